package trigger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/trigger"
)

func TestNewHMACNamesTheConfigField(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []struct {
		cfg   trigger.HMACConfig
		field string
	}{
		{trigger.HMACConfig{Key: key[:31]}, "HMACConfig.Key"},
		{trigger.HMACConfig{Key: key, Window: -time.Second}, "HMACConfig.Window"},
		{trigger.HMACConfig{Key: key, MaxNonces: -1}, "HMACConfig.MaxNonces"},
	} {
		_, err := trigger.NewHMAC(c.cfg)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("NewHMAC(%+v) = %v, want a FieldError on %s", c.cfg, err, c.field)
		}
	}
	if _, err := trigger.NewHMAC(trigger.HMACConfig{Key: key}); err != nil {
		t.Errorf("a 32-byte key and zero defaults: %v", err)
	}
}
