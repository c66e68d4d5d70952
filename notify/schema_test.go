package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The checks below are written from the services' documentation, not
// from this package's code.

// checkSlack checks an incoming-webhook body against Block Kit's
// documented rules (https://api.slack.com/reference/block-kit/blocks,
// https://api.slack.com/reference/block-kit/composition-objects#text,
// https://api.slack.com/reference/block-kit/block-elements#button):
// at most 50 blocks; header: a plain_text text of at most 150
// characters; section: a text of at most 3,000 characters or fields (at
// most 10, each at most 2,000), at least one of the two; context: 1 to 10
// elements, text objects or images; actions: 1 to 25 elements; button: a
// plain_text text of at most 75 characters and a url of at most 3,000;
// a text object's type is plain_text or mrkdwn and its text is not empty.
// The top-level text is the fallback shown in notifications.
func checkSlack(body []byte) error {
	var p struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := strictly(body, &p); err != nil {
		return err
	}
	if p.Text == "" {
		return fmt.Errorf("no fallback text")
	}
	if len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		return fmt.Errorf("%d blocks, want 1 to 50", len(p.Blocks))
	}
	for i, raw := range p.Blocks {
		var b struct {
			Type     string            `json:"type"`
			BlockID  string            `json:"block_id"`
			Text     *textObject       `json:"text"`
			Fields   []textObject      `json:"fields"`
			Elements []json.RawMessage `json:"elements"`
		}
		if err := strictly(raw, &b); err != nil {
			return fmt.Errorf("block %d: %v", i, err)
		}
		if len(b.BlockID) > 255 {
			return fmt.Errorf("block %d: block_id longer than 255", i)
		}
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" {
				return fmt.Errorf("header %d: text must be plain_text", i)
			}
			if err := b.Text.check(150); err != nil {
				return fmt.Errorf("header %d: %v", i, err)
			}
			if b.Fields != nil || b.Elements != nil {
				return fmt.Errorf("header %d: only text is allowed", i)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("section %d: needs text or fields", i)
			}
			if b.Text != nil {
				if err := b.Text.check(3000); err != nil {
					return fmt.Errorf("section %d: %v", i, err)
				}
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("section %d: %d fields, at most 10", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if err := f.check(2000); err != nil {
					return fmt.Errorf("section %d field: %v", i, err)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("context %d: %d elements, want 1 to 10", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				var t textObject
				if err := strictly(e, &t); err != nil {
					return fmt.Errorf("context %d: %v", i, err)
				}
				if err := t.check(3000); err != nil {
					return fmt.Errorf("context %d: %v", i, err)
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				return fmt.Errorf("actions %d: %d elements, want 1 to 25", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				var btn struct {
					Type string     `json:"type"`
					Text textObject `json:"text"`
					URL  string     `json:"url"`
				}
				if err := strictly(e, &btn); err != nil {
					return fmt.Errorf("actions %d: %v", i, err)
				}
				if btn.Type != "button" || btn.Text.Type != "plain_text" {
					return fmt.Errorf("actions %d: want a button with plain_text", i)
				}
				if err := btn.Text.check(75); err != nil {
					return fmt.Errorf("button: %v", err)
				}
				if btn.URL == "" || len(btn.URL) > 3000 {
					return fmt.Errorf("button url length %d", len(btn.URL))
				}
			}
		default:
			return fmt.Errorf("block %d: type %q is not one this check knows", i, b.Type)
		}
	}
	return nil
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t textObject) check(max int) error {
	if t.Type != "plain_text" && t.Type != "mrkdwn" {
		return fmt.Errorf("text type %q", t.Type)
	}
	if n := utf8.RuneCountInString(t.Text); n == 0 || n > max {
		return fmt.Errorf("text of %d characters, want 1 to %d", n, max)
	}
	return nil
}

// checkTeams checks a Workflows webhook body: a message whose attachments
// hold one Adaptive Card (contentType
// application/vnd.microsoft.card.adaptive, as in
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using),
// the card with type AdaptiveCard, a version Teams renders (up to 1.5,
// https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card),
// and body elements and actions as the schema defines them
// (https://adaptivecards.io/explorer/): TextBlock needs text, FactSet
// needs facts each with a title and a value, Action.OpenUrl needs a url.
func checkTeams(body []byte) error {
	var p struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  *string         `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := strictly(body, &p); err != nil {
		return err
	}
	if p.Type != "message" || len(p.Attachments) != 1 {
		return fmt.Errorf("want a message with one attachment, got type %q and %d", p.Type, len(p.Attachments))
	}
	a := p.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" {
		return fmt.Errorf("contentType %q", a.ContentType)
	}
	var card struct {
		Schema  string            `json:"$schema"`
		Type    string            `json:"type"`
		Version string            `json:"version"`
		Body    []json.RawMessage `json:"body"`
		Actions []json.RawMessage `json:"actions"`
	}
	if err := strictly(a.Content, &card); err != nil {
		return err
	}
	switch {
	case card.Type != "AdaptiveCard":
		return fmt.Errorf("card type %q", card.Type)
	case card.Version == "" || card.Version > "1.5":
		return fmt.Errorf("card version %q", card.Version)
	case len(card.Body) == 0:
		return fmt.Errorf("empty card")
	}
	for i, raw := range card.Body {
		var e struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			Weight   string `json:"weight"`
			Size     string `json:"size"`
			Wrap     bool   `json:"wrap"`
			IsSubtle bool   `json:"isSubtle"`
			Facts    []struct {
				Title string `json:"title"`
				Value string `json:"value"`
			} `json:"facts"`
		}
		if err := strictly(raw, &e); err != nil {
			return fmt.Errorf("body %d: %v", i, err)
		}
		switch e.Type {
		case "TextBlock":
			if e.Text == "" {
				return fmt.Errorf("TextBlock %d without text", i)
			}
			if e.Weight != "" && e.Weight != "Default" && e.Weight != "Lighter" && e.Weight != "Bolder" {
				return fmt.Errorf("TextBlock %d weight %q", i, e.Weight)
			}
			if e.Size != "" && e.Size != "Default" && e.Size != "Small" && e.Size != "Medium" && e.Size != "Large" && e.Size != "ExtraLarge" {
				return fmt.Errorf("TextBlock %d size %q", i, e.Size)
			}
		case "FactSet":
			if len(e.Facts) == 0 {
				return fmt.Errorf("FactSet %d without facts", i)
			}
			for _, f := range e.Facts {
				if f.Title == "" || f.Value == "" {
					return fmt.Errorf("FactSet %d: a fact needs a title and a value", i)
				}
			}
		default:
			return fmt.Errorf("body %d: element %q is not one this check knows", i, e.Type)
		}
	}
	for i, raw := range card.Actions {
		var act struct {
			Type  string `json:"type"`
			Title string `json:"title"`
			URL   string `json:"url"`
		}
		if err := strictly(raw, &act); err != nil {
			return fmt.Errorf("action %d: %v", i, err)
		}
		if act.Type != "Action.OpenUrl" || act.URL == "" {
			return fmt.Errorf("action %d: want Action.OpenUrl with a url", i)
		}
	}
	return nil
}

// strictly decodes b into v, refusing fields v does not declare.
func strictly(b []byte, v any) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
