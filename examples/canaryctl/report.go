package main

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

func cmdReport(e env, args []string) error {
	fs, dir := flags("report", e)
	out := fs.String("o", "", "HTML file to write (default NAME-report.html)")
	svgOut := fs.String("svg", "", "also write the chart alone to this SVG file")
	pngOut := fs.String("png", "", "also write the chart alone to this PNG file (drawn by gonum/plot, 150 dpi)")
	tz := addZone(fs)
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	st, rec, err := openRollout(e, dir, name)
	if err != nil {
		return err
	}
	b, _, err := st.Load(e.ctx, auditKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return usageErr(fmt.Errorf("no audit trail for %q in store %s", name, st.where))
	}
	if err != nil {
		return err
	}
	rep, chainErr := audit.Verify(bytes.NewReader(b), audit.Config{}, nil)
	n := int(rep.Anchor.Lines)
	evs, err := parseEvents(b)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return usageErr(fmt.Errorf("the audit trail of %s is empty", name))
	}
	svg, err := chart(name, evs, "svg", tz.loc)
	if err != nil {
		return err
	}
	var png []byte
	if *pngOut != "" {
		if png, err = chart(name, evs, "png", tz.loc); err != nil {
			return err
		}
	}
	if *out == "" {
		*out = name + "-report.html"
	}
	var page bytes.Buffer
	chain := fmt.Sprintf("intact over %s lines", fmtNum(float64(n), 0))
	if chainErr != nil {
		chain = "BROKEN: " + chainErr.Error()
	}
	if err := writeReport(&page, name, rec, evs, svg, chain, tz.loc); err != nil {
		return err
	}
	if err := os.WriteFile(*out, page.Bytes(), 0o644); err != nil {
		return err
	}
	if *svgOut != "" {
		if err := os.WriteFile(*svgOut, svg, 0o644); err != nil {
			return err
		}
	}
	if *pngOut != "" {
		if err := os.WriteFile(*pngOut, png, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "report of %s written to %s (%s events)\n", name, *out, fmtNum(float64(len(evs)), 0))
	return nil
}

// marker is a decision, gate or manual action shown on the chart and in
// the report's table.
type marker struct {
	N      int
	Time   time.Time
	What   string
	Actor  string
	Reason string
}

func markers(evs []rollback.Event) []marker {
	var ms []marker
	for _, e := range evs {
		var what string
		switch {
		case e.Kind == rollback.KindManual:
			what = "manual " + e.Action
			if e.WeightFrom != e.WeightTo {
				what += fmt.Sprintf(" (canary %d %% → %d %%)", e.WeightFrom, e.WeightTo)
			}
		case e.Kind == rollback.KindTransition && e.To == rollback.AwaitingApproval:
			what = "gate: waits for approval"
		case e.Kind == rollback.KindTransition && e.From == rollback.AwaitingApproval && e.To != rollback.Paused:
			what = "gate passed → " + e.To.String()
		case e.Kind == rollback.KindTransition && e.Actor != "":
			continue // the manual command's own marker says it
		case e.Kind == rollback.KindTransition && (e.To == rollback.RollingBack || e.To.Final() || e.To == rollback.Paused || e.To == rollback.Promoting):
			what = "decision: " + e.To.String()
		case e.Kind == rollback.KindTransition && e.WeightTo != e.WeightFrom:
			what = fmt.Sprintf("decision: canary %d %% → %d %%", e.WeightFrom, e.WeightTo)
		default:
			continue
		}
		ms = append(ms, marker{N: len(ms) + 1, Time: e.Time, What: what, Actor: e.Actor, Reason: e.Reason})
	}
	return ms
}

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey   = color.RGBA{R: 110, G: 110, B: 110, A: 255}
	green  = color.RGBA{R: 44, G: 160, B: 44, A: 255}
)

func init() {
	// Sans-serif text in the chart, like the page around it.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
}

// pngDPI is the PNG chart's resolution: 150 dots per inch, so a 26 cm wide
// chart is 1,535 pixels wide (sharp on screen, fine printed).
const pngDPI = 150

// chart draws the rollout's timeline with gonum/plot: the canary's weight
// with numbered markers, then one panel per metric (error rate first, then
// latency) with canary against stable and the bound it was held to. The
// format is "svg" (vg/vgsvg) or "png" (vg/vgimg, rasterised by gonum/plot
// itself at pngDPI on a white background).
func chart(name string, evs []rollback.Event, format string, loc *time.Location) ([]byte, error) {
	loc = orDefault(loc)
	t0 := evs[0].Time
	x := func(t time.Time) float64 { return float64(t.Unix()) }
	ticks := plot.TimeTicks{Format: "15:04:05", Time: func(v float64) time.Time { return time.Unix(int64(v), 0).In(loc) }}
	zone := loc.String() + ", " + evs[len(evs)-1].Time.In(loc).Format("MST")

	// Weight, as a step function.
	weight := plotter.XYs{{X: x(t0), Y: float64(evs[0].WeightFrom)}}
	for _, e := range evs {
		if float64(e.WeightTo) != weight[len(weight)-1].Y {
			weight = append(weight, plotter.XY{X: x(e.Time), Y: float64(e.WeightTo)})
		}
	}
	weight = append(weight, plotter.XY{X: x(evs[len(evs)-1].Time), Y: weight[len(weight)-1].Y})
	pw := plot.New()
	pw.Title.Text = name + ": canary weight, decisions and manual actions"
	pw.Y.Label.Text = "canary weight (%)"
	pw.X.Label.Text = "time (" + zone + ")"
	pw.X.Tick.Marker = ticks
	pw.Y.Min, pw.Y.Max = 0, 105
	pw.Add(plotter.NewGrid())
	wl, err := plotter.NewLine(weight)
	if err != nil {
		return nil, err
	}
	wl.StepStyle = plotter.PostStep
	wl.Color, wl.Width = blue, vg.Points(2)
	pw.Add(wl)
	pw.Legend.Add("canary weight", wl)
	pw.Legend.Top, pw.Legend.Left = true, true
	var labels plotter.XYLabels
	lastX, stack := math.Inf(-1), 0
	span := x(evs[len(evs)-1].Time) - x(t0)
	for _, m := range markers(evs) {
		// Markers closer than 2 % of the time axis are stacked downwards
		// so that their numbers stay readable.
		if x(m.Time)-lastX < span/50 {
			stack++
		} else {
			stack = 0
		}
		lastX = x(m.Time)
		ln, err := plotter.NewLine(plotter.XYs{{X: x(m.Time), Y: 0}, {X: x(m.Time), Y: 100}})
		if err != nil {
			return nil, err
		}
		ln.Color, ln.Dashes = grey, []vg.Length{vg.Points(3), vg.Points(3)}
		pw.Add(ln)
		labels.XYs = append(labels.XYs, plotter.XY{X: x(m.Time), Y: 100 - 8*float64(stack%12)})
		labels.Labels = append(labels.Labels, strconv.Itoa(m.N))
	}
	if len(labels.XYs) > 0 {
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, err
		}
		pw.Add(lb)
	}
	plots := [][]*plot.Plot{{pw}}

	// One panel per metric observed.
	for _, metric := range chartMetrics(evs) {
		var can, stab, bound plotter.XYs
		for _, e := range evs {
			if e.Kind != rollback.KindAnalysis {
				continue
			}
			obsStable := math.NaN()
			for _, o := range e.Observations {
				if o.Metric != metric {
					continue
				}
				if o.Canary.Observed {
					can = append(can, plotter.XY{X: x(e.Time), Y: o.Canary.Value})
				}
				if o.Stable.Observed {
					stab = append(stab, plotter.XY{X: x(e.Time), Y: o.Stable.Value})
					obsStable = o.Stable.Value
				}
			}
			if b, ok := boundOf(e.Verdict, metric, obsStable); ok {
				bound = append(bound, plotter.XY{X: x(e.Time), Y: b})
			}
		}
		if len(can) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = metric + ": canary against stable and the bound"
		p.Y.Label.Text = metric
		p.X.Label.Text = "time (" + zone + ")"
		p.X.Tick.Marker = ticks
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		for _, s := range []struct {
			xy    plotter.XYs
			name  string
			col   color.Color
			dash  bool
			width float64
		}{{can, "canary", orange, false, 2}, {stab, "stable", green, false, 1.5}, {bound, "bound (evidence limit)", grey, true, 1}} {
			if len(s.xy) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(s.xy)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = s.col, vg.Points(s.width)
			if s.dash {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				pts.Radius = 0
			} else {
				pts.Color, pts.Radius, pts.Shape = s.col, vg.Points(2), draw.CircleGlyph{}
			}
			p.Add(l, pts)
			p.Legend.Add(s.name, l)
		}
		// Top right, inside the drawing: the line samples stay on the
		// canvas (in the PNG they were cut off at its edge).
		p.Legend.Top, p.Legend.XOffs = true, -vg.Millimeter*4
		plots = append(plots, []*plot.Plot{p})
	}
	if p, err := evidencePlot(evs, x, ticks, zone); err != nil {
		return nil, err
	} else if p != nil {
		plots = append(plots, []*plot.Plot{p})
	}
	w, h := 26*vg.Centimeter, vg.Length(len(plots))*8*vg.Centimeter
	var c vg.CanvasWriterTo
	switch format {
	case "svg":
		c = vgsvg.New(w, h)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))}
	default:
		return nil, fmt.Errorf("chart format %q: want svg or png", format)
	}
	dc := draw.New(c)
	canvases := plot.Align(plots, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2}, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// evidencePlot draws, for analyzers that weigh evidence both ways, each
// metric's progress towards a Fail and towards a Pass (0 to 100 %, where
// 100 % decides); nil when no verdict carries evidence.
func evidencePlot(evs []rollback.Event, x func(time.Time) float64, ticks plot.Ticker, zone string) (*plot.Plot, error) {
	type series struct{ fail, pass plotter.XYs }
	by := map[string]*series{}
	var names []string
	for _, e := range evs {
		if e.Kind != rollback.KindAnalysis || e.Verdict == nil {
			continue
		}
		for _, ev := range e.Verdict.Evidence {
			s := by[ev.Metric]
			if s == nil {
				s = &series{}
				by[ev.Metric] = s
				names = append(names, ev.Metric)
			}
			s.fail = append(s.fail, plotter.XY{X: x(e.Time), Y: 100 * ev.Fail})
			s.pass = append(s.pass, plotter.XY{X: x(e.Time), Y: 100 * ev.Pass})
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "evidence: progress towards a decision (100 % decides)"
	p.Y.Label.Text = "evidence (%)"
	p.X.Label.Text = "time (" + zone + ")"
	p.X.Tick.Marker = ticks
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	for i, n := range names {
		for _, s := range []struct {
			xy   plotter.XYs
			what string
			col  color.Color
		}{{by[n].fail, "fail", orange}, {by[n].pass, "pass", green}} {
			l, err := plotter.NewLine(s.xy)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = s.col, vg.Points(2)
			if i > 0 {
				l.Dashes = []vg.Length{vg.Points(2 + 2*float64(i)), vg.Points(2)}
			}
			p.Add(l)
			p.Legend.Add(n+" towards "+s.what, l)
		}
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, nil
}

// chartMetrics lists the metrics seen in verdicts, error rates first, then
// latencies, then the rest.
func chartMetrics(evs []rollback.Event) []string {
	seen := map[string]bool{}
	var names []string
	for _, e := range evs {
		for _, o := range e.Observations {
			if !seen[o.Metric] {
				seen[o.Metric] = true
				names = append(names, o.Metric)
			}
		}
	}
	rank := func(n string) int {
		switch {
		case strings.Contains(n, "error"):
			return 0
		case strings.Contains(n, "latency"):
			return 1
		}
		return 2
	}
	var out []string
	for r := range 3 {
		for _, n := range names {
			if rank(n) == r {
				out = append(out, n)
			}
		}
	}
	return out
}

var relBound = regexp.MustCompile(`(?:<=|≤)\s*([-+0-9.eE]+)\s*×\s*stable\s*\+\s*([-+0-9.eE]+)\s*$`)

// boundOf reads the upper bound a verdict held metric to: a fixed limit
// ("<= 0.02", [analysis.Threshold]) or one relative to stable ("<= 1.1 ×
// stable + 0.005", [analysis.Compare]; "… for canary ≤ 1 × stable + 0",
// the tolerance of [analysis.Sequential]), with stable the value the
// analyzer used, else the stable value observed (obsStable, NaN if none).
func boundOf(v *analysis.Verdict, metric string, obsStable float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	for _, d := range v.Details {
		if d.Metric != metric {
			continue
		}
		b := strings.TrimSpace(d.Bound)
		if rest, ok := strings.CutPrefix(b, "<="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return f, true
			}
		}
		if m := relBound.FindStringSubmatch(b); m != nil {
			a, err1 := strconv.ParseFloat(m[1], 64)
			c, err2 := strconv.ParseFloat(m[2], 64)
			st := obsStable
			if d.Stable != nil {
				st = *d.Stable
			}
			if err1 == nil && err2 == nil && !math.IsNaN(st) {
				return a*st + c, true
			}
		}
	}
	return 0, false
}

// reportPage is the report's template, its times in loc (nil:
// Europe/London).
func reportPage(loc *time.Location) *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"time": func(t time.Time) string { return fmtTime(t, loc) }, "num": func(v int) string { return fmtNum(float64(v), 0) },
		"event": func(e rollback.Event) string { return strings.TrimPrefix(eventLine(e, loc), fmtTime(e.Time, loc)) },
	}).Parse(reportHTML))
}

const reportHTML = `<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>Canary rollout {{.Name}}: timeline report</title>
<style>
  body { font: 11pt/1.4 "DejaVu Sans", Arial, sans-serif; margin: 1.5cm; color: #111; }
  h1 { font-size: 18pt; margin: 0 0 .3em; }
  h2 { font-size: 13pt; margin: 1.2em 0 .4em; border-bottom: 1px solid #999; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; font-size: 9.5pt; }
  th { background: #eee; }
  .chart svg { width: 100%; height: auto; }
  .final-succeeded { color: #1a7f1a; } .final-rolled-back { color: #b00; }
  .small { font-size: 8.5pt; color: #444; }
  @media print { body { margin: 1cm; } .chart { page-break-inside: avoid; } tr { page-break-inside: avoid; } }
  @page { size: A4; margin: 1cm; }
</style>
</head>
<body>
<h1>Canary rollout <code>{{.Name}}</code></h1>
<p>Outcome: <strong class="final-{{.Phase}}">{{.Phase}}</strong> at canary {{.Weight}} % — {{.Reason}}</p>
<table>
<tr><th>Started</th><td>{{time .Start}}</td><th>Last event</th><td>{{time .End}}</td></tr>
<tr><th>Duration</th><td>{{.Duration}}</td><th>Events</th><td>{{num .Events}} (audit chain {{.Chain}})</td></tr>
<tr><th>Analyses</th><td>{{num .Analyses}}</td><th>Failed analyses</th><td>{{num .Failures}} of a limit of {{num .Limit}}</td></tr>
{{if .Cost}}<tr><th>Cost</th><td colspan="3" class="cost">{{.Cost}} (last analysis with cost, {{time .CostTime}})</td></tr>
{{end}}</table>
<p class="small">Times are in {{if .Zone}}{{.Zone}}{{else}}Europe/London (GMT, or BST in summer){{end}}; numbers in UK format. Generated by canaryctl at {{time .Now}}.</p>
<h2>Timeline</h2>
<div class="chart">{{.SVG}}</div>
<h2>Decisions, gates and manual actions</h2>
<table>
<tr><th>#</th><th>Time</th><th>What</th><th>Actor</th><th>Reason</th></tr>
{{range .Markers}}<tr><td>{{.N}}</td><td>{{time .Time}}</td><td>{{.What}}</td><td>{{.Actor}}</td><td>{{.Reason}}</td></tr>
{{else}}<tr><td colspan="5">none</td></tr>{{end}}
</table>
<h2>Audit trail</h2>
<table>
<tr><th>Seq</th><th>Time</th><th>Event</th></tr>
{{range .All}}<tr><td>{{.Seq}}</td><td>{{time .Time}}</td><td>{{event .}}</td></tr>
{{end}}
</table>
</body>
</html>
`

// writeReport writes the HTML report, its times in loc (nil:
// Europe/London).
func writeReport(w io.Writer, name string, rec rolloutRecord, evs []rollback.Event, svg []byte, chain string, loc *time.Location) error {
	// The SVG is ours (gonum/plot's output), embedded as markup; drop its
	// XML prolog.
	s := string(svg)
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	start, end := evs[0].Time, evs[len(evs)-1].Time
	analyses := 0
	for _, e := range evs {
		if e.Kind == rollback.KindAnalysis {
			analyses++
		}
	}
	st := rec.Status
	// The cost shown is the last analysis's that had one, from the
	// audit trail; the record's status, if none did.
	cost, costTime := "", time.Time{}
	for i := len(evs) - 1; i >= 0 && cost == ""; i-- {
		if evs[i].Kind == rollback.KindAnalysis {
			if c, ok := costText(evs[i].Verdict); ok {
				cost, costTime = c, evs[i].Time
			}
		}
	}
	if c, ok := costText(st.Verdict); ok && cost == "" {
		cost, costTime = c, rec.Updated
	}
	zoneName := "" // the page names Europe/London and its summer time itself
	if z := (zone{loc: loc}); !z.london() {
		zoneName = z.String()
	}
	return reportPage(loc).Execute(w, map[string]any{
		"Name": name, "Phase": st.Phase.String(), "Weight": st.CanaryWeight, "Reason": display.Reason(st, loc),
		"Start": start, "End": end, "Duration": end.Sub(start).Round(time.Second).String(),
		"Events": len(evs), "Chain": chain, "Analyses": analyses, "Failures": st.Failures, "Limit": st.FailureLimit,
		"Now": time.Now(), "SVG": template.HTML(s), "Markers": markers(evs), "All": evs,
		"Cost": cost, "CostTime": costTime, "Zone": zoneName,
	})
}
