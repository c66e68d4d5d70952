#!/usr/bin/env python3
"""Collects the import corpus in this directory from mirrors of the two
projects' repositories (git directories, read with git show).

Usage: collect.py ARGO_GIT_DIR FLAGGER_GIT_DIR

For every page of documentation (Markdown) and every YAML file of the
documentation and examples, each YAML document that is an Argo Rollouts
Rollout (argoproj.io/*) or a Flagger Canary (flagger.app/*) becomes one
file here: the fenced block (or file) as published, followed by the
AnalysisTemplates / MetricTemplates it names that the same page defines
elsewhere and the block does not. Blocks that are not YAML as published
(elisions such as "..." or "# ...") are skipped and counted.
"""
import os, re, subprocess, sys, textwrap, yaml

ARGO_COMMIT = "9f8d111d8f8e3e88b6d7f8bbdf62fd3cd863ef9d"
FLAGGER_COMMIT = "15bd6ad555e6c935da55f0ab95977be74c149bd6"
HERE = os.path.dirname(os.path.abspath(__file__))

def git(d, *a):
    return subprocess.run(["git", "--git-dir", d] + list(a), capture_output=True, check=True).stdout.decode()

def blocks(path, text):
    if not path.endswith(".md"):
        return [text]
    return [textwrap.dedent(b) for b in re.findall(r"^[ \t]*```ya?ml[^\n]*\n(.*?)^[ \t]*```", text, re.S | re.M)]

ELISION = re.compile(r"^[ \t]*(\.\.\.|# ?\.\.\.|<[^>]*>)[ \t]*\n", re.M)

def repair(block):
    """The block without its elision lines ("...", "# ...", "<...>"), or
    None when it has none."""
    r = ELISION.sub("", block)
    return r if r != block else None

def docs(block):
    try:
        return [d for d in yaml.safe_load_all(block) if isinstance(d, dict)]
    except yaml.YAMLError:
        return None

def refs(d, tool):
    out = set()
    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if tool == "argo" and k == "templateName" and isinstance(v, str):
                    out.add(v)
                if tool == "flagger" and k == "templateRef" and isinstance(v, dict) and "name" in v:
                    out.add(v["name"])
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(d)
    return out

def collect(gitdir, commit, tool, repo, roots, kind, group, tkinds, skip):
    files = [f for f in git(gitdir, "ls-tree", "-r", "--name-only", commit).split("\n")
             if f.startswith(roots) and re.search(r"\.(md|ya?ml)$", f) and not any(s in f for s in skip)]
    n, unparsed = 0, 0
    outdir = os.path.join(HERE, tool)
    os.makedirs(outdir, exist_ok=True)
    for f in sorted(files):
        text = git(gitdir, "show", commit + ":" + f)
        if kind not in text:
            continue
        bl = blocks(f, text)
        parsed = []
        for b in bl:
            ds, note = docs(b), ""
            if ds is None and repair(b) is not None:
                b, ds, note = repair(b), docs(repair(b)), "; its elision lines (...) removed"
            parsed.append((b, ds, note))
        templates = {}
        for b, ds, _ in parsed:
            for d in ds or []:
                if d.get("kind") in tkinds:
                    name = (d.get("metadata") or {}).get("name")
                    templates.setdefault(name, d)
        for i, (b, ds, note) in enumerate(parsed):
            if ds is None:
                if re.search(r"^kind:\s*" + kind + r"\s*$", b, re.M):
                    unparsed += 1
                continue
            targets = [d for d in ds if d.get("kind") == kind and str(d.get("apiVersion", "")).startswith(group)]
            if not targets:
                continue
            defined = {(d.get("metadata") or {}).get("name") for d in ds if d.get("kind") in tkinds}
            extra = []
            for t in targets:
                for r in sorted(refs(t, tool)):
                    if r not in defined and r in templates:
                        extra.append(templates[r]); defined.add(r)
            slug = re.sub(r"[^a-z0-9]+", "-", f.lower().rsplit(".", 1)[0]).strip("-")
            name = slug + ("-%d" % (i + 1) if f.endswith(".md") else "") + ".yaml"
            where = ("block %d of " % (i + 1) if f.endswith(".md") else "") + f
            head = ("# Source: %s, %s at commit %s.\n# Licence: Apache-2.0 (%s).\n# Published text%s%s.\n"
                    % (repo, where, commit[:12], "Copyright The Argo Authors" if tool == "argo" else "Copyright The Flux authors", note or ", unchanged",
                       "; the templates it names, from the same page, follow" if extra else ""))
            body = b if b.endswith("\n") else b + "\n"
            for e in extra:
                body += "---\n" + yaml.safe_dump(e, sort_keys=False)
            with open(os.path.join(outdir, name), "w") as o:
                o.write(head + body)
            n += 1
    print("%s: %d files, %d blocks with a %s not YAML as published (skipped)" % (tool, n, unparsed, kind))

collect(sys.argv[1], ARGO_COMMIT, "argo", "argoproj/argo-rollouts", ("docs/", "examples/"), "Rollout", "argoproj.io/",
        ("AnalysisTemplate", "ClusterAnalysisTemplate"), ("docs/proposals/", "kustomize/rollout-transform", "helm-blue-green/templates"))
collect(sys.argv[2], FLAGGER_COMMIT, "flagger", "fluxcd/flagger", ("docs/", "artifacts/examples/", "kustomize/tester", "charts/podinfo"), "Canary", "flagger.app/",
        ("MetricTemplate",), ())
