// Package audit keeps a rollout's audit trail: a rollback.Sink writing
// each rollback.Event as one line of JSON, chained so that alterations are
// detected, written so that faults neither repeat nor tear an event, and
// Verify, which checks a trail.
//
// # Lines and chain
//
// Each line is the event's JSON object (times in UTC) with one more field:
// "chain", the SHA-256 of the previous line's value, a newline and this
// line's event, or, with Config.Key, "mac", the HMAC-SHA-256 of the same
// under the key. The first line chains from the empty string.
//
// # Exactly once
//
// A rollout numbers its events by Seq and offers an event again, with all
// later ones, after a Record that failed, and after a crash between
// delivering an event and persisting that it did. JSONLines acknowledges
// without writing any event whose Seq is not above the last one its trail
// holds for that rollout; OpenFile reads that last Seq from the file. So
// every event is in the trail once, in order.
//
// Seq is per rollout name, and numbers a rollout's events from 1. Give
// each run of a rollout its own trail (for example a file named after the
// rollout and the time it started), or a name of its own: a second run
// under the same name in the same trail starts again at Seq 1, and its
// events would be taken for events already written (and Verify would
// report the repeated numbers as tampering).
//
// Faults while writing: a write that fails before writing anything is
// simply retried; a short write (part of a line written) leaves the rest
// pending and the next Record writes that rest first, completing the line
// instead of writing the event again; a failed Sync is retried by the next
// Record before anything else. A trail from OpenFile goes further: after
// any failure it reopens the file, reads back what the file holds, and
// truncates a torn last line; a crash during a write leaves at most one
// torn last line, which Verify reports as ErrTornLine (not as tampering)
// and OpenFile repairs, and whose event the rollout delivers again. (On
// Linux a failed fsync may drop written data while a later fsync
// succeeds; reading the file back is how OpenFile learns what it holds.)
// Only a torn line after every acknowledged line is repaired: when the
// trail reopens itself it checks the file against the last line it
// acknowledged, and OpenFileAnchored against the anchor the caller saved,
// so a line cut at or below it is refused as tampering and left in place,
// never truncated away.
//
// # One writer
//
// OpenFile and OpenFileAnchored lock the trail (an exclusive flock(2),
// released by Close or when the process dies); a second writer of the same
// file gets an error wrapping ErrLocked at once. Two writers would each
// keep their own Seq and chain value and break the trail for good. On
// systems without flock(2) the caller must keep to one writer.
//
// # What Verify detects, and what it does not
//
// Verify reads lines of any length (it does not use bufio.Scanner and its
// 16 MiB limit) and checks every line's chain value, that every line is an
// event, and that each rollout's Seq only increases.
//
// Without a key (SHA-256 chain) it detects accidental damage and any edit,
// removal, insertion or reordering of lines by someone who does not then
// recompute the chain. It does not detect someone who rewrites a line and
// recomputes every later chain value (anyone can), nor the removal of the
// last lines (the shorter trail is a valid chain).
//
// With a key (HMAC-SHA-256) an edit, removal, insertion or reordering
// anywhere is detected unless the editor has the key: the chain cannot be
// recomputed without it. Removing the last lines is still a valid chain.
//
// With an Anchor (the line count and last chain value, which JSONLines
// returns after each Record and which the caller keeps apart from the
// trail, for example in a store.Store) Verify also detects a trail
// truncated below the anchor (whole lines removed, or a line cut in the
// middle, which is not reported as a torn line), and any change to the
// anchored lines even without a key. Lines written after the anchor was taken are covered only
// by the chain. Nothing here detects an attacker who holds the key and
// can also replace the stored anchor, nor the deletion of the whole trail
// together with its anchor; nor does the chain hide anything: the trail is
// plain text, readable by whoever can read the file.
package audit
