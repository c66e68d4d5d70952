package audit_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/meshcanary/canary/audit"
)

func validTrail(key []byte) ([]byte, audit.Anchor) {
	var buf bytes.Buffer
	j, _ := audit.New(&buf, audit.Config{Key: key}, audit.Report{})
	for seq := uint64(1); seq <= 4; seq++ {
		_ = j.Record(context.Background(), event("checkout", seq))
	}
	return buf.Bytes(), j.Anchor()
}

// FuzzVerify: Verify never panics, and what it accepts is consistent:
// one line per newline, and its size is the input's.
func FuzzVerify(f *testing.F) {
	trail, _ := validTrail(nil)
	f.Add(trail)
	f.Add(trail[:len(trail)-7])
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"chain":"` + string(bytes.Repeat([]byte("0"), 64)) + `"}` + "\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := audit.Verify(bytes.NewReader(data), audit.Config{}, nil)
		if err != nil {
			if !errors.Is(err, audit.ErrTampered) && !errors.Is(err, audit.ErrTornLine) {
				t.Fatalf("error %v is neither ErrTampered nor ErrTornLine", err)
			}
			if rep.Size > int64(len(data)) {
				t.Fatalf("report %+v beyond the input", rep)
			}
			return
		}
		if rep.Size != int64(len(data)) || rep.Anchor.Lines != uint64(bytes.Count(data, []byte("\n"))) {
			t.Fatalf("accepted %q with report %+v", data, rep)
		}
	})
}

// FuzzVerifyEdit: with the key and the anchor, any change to a valid trail
// (one byte replaced, or a cut) is detected.
func FuzzVerifyEdit(f *testing.F) {
	key := []byte("fuzz key")
	trail, anchor := validTrail(key)
	f.Add(uint(0), byte('x'), false)
	f.Add(uint(len(trail)-1), byte(' '), false)
	f.Add(uint(len(trail)/2), byte('0'), true)
	f.Fuzz(func(t *testing.T, at uint, b byte, cut bool) {
		edited := append([]byte(nil), trail...)
		i := int(at % uint(len(edited)))
		if cut {
			edited = edited[:i]
		} else {
			if edited[i] == b {
				return
			}
			edited[i] = b
		}
		if _, err := audit.Verify(bytes.NewReader(edited), audit.Config{Key: key}, &anchor); err == nil {
			t.Fatalf("edit at %d (cut=%v, byte %q) not detected", i, cut, b)
		}
	})
}
