package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/meshcanary/canary/trigger"
)

// Destination turns a Message into the HTTP request one service expects.
// Name is what errors and reports call it: it never holds the URL, whose
// path is the credential of an incoming webhook.
type Destination interface {
	Name() string
	Request(ctx context.Context, m Message, now time.Time) (*http.Request, error)
}

func post(ctx context.Context, url string, body any) (*http.Request, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, nil, errRedacted // the parse error would quote the URL
	}
	req.Header.Set("Content-Type", "application/json")
	return req, b, nil
}

// clip cuts s to at most n characters (runes), marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Slack posts to a Slack incoming webhook
// (https://api.slack.com/messaging/webhooks) a message of Block Kit
// blocks (https://api.slack.com/reference/block-kit/blocks): a header, a
// section with the reason and the weights as fields, a section with the
// evidence, a context line with the time, and a button to the report, all
// within Block Kit's documented limits (header text 150 characters,
// section text 3,000, at most 10 fields of 2,000, button text 75 and URL
// 3,000). The top-level text is the notification's plain-text fallback.
type Slack struct {
	URL string
}

// Name implements Destination.
func (Slack) Name() string { return "slack" }

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []any       `json:"elements,omitempty"`
}

type slackButton struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
	URL  string    `json:"url"`
}

// slackEscape escapes the three characters Slack's mrkdwn reserves
// (https://api.slack.com/reference/surfaces/formatting#escaping).
func slackEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SlackPayload returns the JSON body Slack is sent for m.
func SlackPayload(m Message) map[string]any {
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: clip(m.Title, 150)}},
	}
	sec := slackBlock{Type: "section", Fields: []slackText{
		{Type: "mrkdwn", Text: "*Canary weight*\n" + itoa(m.WeightFrom) + " % → " + itoa(m.WeightTo) + " %"},
		{Type: "mrkdwn", Text: "*When*\n" + m.TimeText},
	}}
	if m.Actor != "" {
		sec.Fields = append(sec.Fields, slackText{Type: "mrkdwn", Text: "*By*\n" + clip(slackEscape(m.Actor), 1990)})
	}
	if m.Reason != "" {
		sec.Text = &slackText{Type: "mrkdwn", Text: clip(slackEscape(m.Reason), 3000)}
	}
	blocks = append(blocks, sec)
	if len(m.Evidence) > 0 {
		var b bytes.Buffer
		b.WriteString("*Evidence*")
		for _, l := range m.Evidence {
			b.WriteString("\n• " + slackEscape(l))
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: clip(b.String(), 3000)}})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []any{
		slackText{Type: "mrkdwn", Text: "rollout " + clip(slackEscape(m.Rollout), 200) + " · event " + uitoa(m.Seq) + " · " + string(m.Decision)},
	}})
	if m.Report != "" && len(m.Report) <= 3000 {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: []any{
			slackButton{Type: "button", Text: slackText{Type: "plain_text", Text: "Open the report"}, URL: m.Report},
		}})
	}
	return map[string]any{"text": clip(m.Title+": "+m.Reason, 3000), "blocks": blocks}
}

// Request implements Destination.
func (s Slack) Request(ctx context.Context, m Message, _ time.Time) (*http.Request, error) {
	req, _, err := post(ctx, s.URL, SlackPayload(m))
	return req, err
}

// Teams posts to a Microsoft Teams Workflows webhook (the "Post to a
// channel when a webhook request is received" workflow) a message with
// one Adaptive Card attachment, the shape Microsoft documents at
// https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook
// and https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
// (Adaptive Card schema 1.4, https://adaptivecards.io/explorer/): a
// heading TextBlock, the reason, a FactSet of the weights, time and actor,
// the evidence, and an Action.OpenUrl to the report.
type Teams struct {
	URL string
}

// Name implements Destination.
func (Teams) Name() string { return "teams" }

// TeamsPayload returns the JSON body Teams is sent for m.
func TeamsPayload(m Message) map[string]any {
	body := []map[string]any{
		{"type": "TextBlock", "text": m.Title, "weight": "Bolder", "size": "Medium", "wrap": true},
	}
	if m.Reason != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Reason, "wrap": true})
	}
	facts := []map[string]string{
		{"title": "Canary weight", "value": itoa(m.WeightFrom) + " % → " + itoa(m.WeightTo) + " %"},
		{"title": "When", "value": m.TimeText},
		{"title": "Rollout", "value": m.Rollout},
	}
	if m.Actor != "" {
		facts = append(facts, map[string]string{"title": "By", "value": m.Actor})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	for _, l := range m.Evidence {
		body = append(body, map[string]any{"type": "TextBlock", "text": "• " + l, "wrap": true, "isSubtle": true})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if m.Report != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": "Open the report", "url": m.Report}}
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	}
}

// Request implements Destination.
func (t Teams) Request(ctx context.Context, m Message, _ time.Time) (*http.Request, error) {
	req, _, err := post(ctx, t.URL, TeamsPayload(m))
	return req, err
}

// Webhook posts the Message itself as JSON, signed with [trigger.HMAC]'s
// scheme (headers X-Canary-Timestamp, X-Canary-Nonce and
// X-Canary-Signature), so that a receiver can check it with
// [trigger.NewHMAC] and the same key, replay protection included.
type Webhook struct {
	URL    string
	Signer *trigger.HMAC
}

// Name implements Destination.
func (Webhook) Name() string { return "webhook" }

// Request implements Destination.
func (w Webhook) Request(ctx context.Context, m Message, now time.Time) (*http.Request, error) {
	req, body, err := post(ctx, w.URL, m)
	if err != nil {
		return nil, err
	}
	if w.Signer != nil {
		var n [16]byte
		_, _ = rand.Read(n[:])
		w.Signer.SignRequest(req, now, hex.EncodeToString(n[:]), body)
	}
	return req, nil
}

func itoa(n int) string {
	return string(strconvAppend(nil, int64(n)))
}

func uitoa(n uint64) string { return string(strconvAppend(nil, int64(n))) }

func strconvAppend(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
