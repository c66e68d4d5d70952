package display

import (
	"errors"
	"strings"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// Shape writes st.Shape for people, with the instant it refers to in loc
// (nil: Europe/London): for a blue/green rollout in its post-promotion
// analysis, "blue/green: switched; post-promotion analysis, the old
// version warm until 01/07/2026 10:05:00 BST".
func Shape(st rollback.Status, loc *time.Location) string {
	if st.WarmUntil.IsZero() || st.Shape == "" {
		return st.Shape
	}
	return st.Shape + " until " + FormatTimeIn(st.WarmUntil, loc)
}

// evidenceArrived and analysisNo frame, in a paused rollout's reason, the
// place where Reason writes Status.EvidenceAt ("…; the evidence has
// arrived since: a passing analysis at 01/07/2026 10:05:00 BST, analysis
// 7; Resume to go on, or Promote or Abort").
const (
	evidenceArrived = "; the evidence has arrived since: "
	analysisNo      = ", analysis "
)

// Reason writes st.Reason for people, with the instant it refers to in
// loc (nil: Europe/London): once the evidence a paused rollout's decision
// needed has arrived, when it did (Status.EvidenceAt). A reason saved
// before EvidenceAt existed holds its time as text and is written as it
// is.
func Reason(st rollback.Status, loc *time.Location) string {
	if st.EvidenceAt.IsZero() {
		return st.Reason
	}
	i := strings.LastIndex(st.Reason, evidenceArrived)
	if i < 0 {
		return st.Reason
	}
	j := strings.Index(st.Reason[i:], analysisNo)
	if j < 0 {
		return st.Reason
	}
	j += i
	return st.Reason[:j] + " at " + FormatTimeIn(st.EvidenceAt, loc) + st.Reason[j:]
}

// Error writes err's text with the instants of the errors in its chain
// that carry one in loc (nil: Europe/London, err.Error() as it is): a
// [rollback.FinishedError]'s At. The text is not escaped (see OneLine).
func Error(err error, loc *time.Location) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	var fe *rollback.FinishedError
	if loc == nil || !errors.As(err, &fe) || fe == nil {
		return s
	}
	was := fe.Error()
	now := strings.Replace(was, " at "+FormatTime(fe.At)+";", " at "+FormatTimeIn(fe.At, loc)+";", 1)
	return strings.Replace(s, was, now, 1)
}
