package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookline/hookline/actions"
)

// secretPrefix is the Standard Webhooks secret prefix
// (https://www.standardwebhooks.com), stripped before base64 decoding.
const secretPrefix = "whsec_"

// sign sets the Standard Webhooks headers for body. The id is the delivery
// id, so a receiver can deduplicate the queue's retries by it.
func (e *Executor) sign(d *actions.Delivery, secret actions.Text, h http.Header, body []byte, r *resolver) error {
	s, err := r.resolve("signing_secret", secret)
	if err != nil {
		return err
	}
	encoded := strings.TrimPrefix(s, secretPrefix)
	// The encoded key is as secret as the whole value and may appear on its
	// own, so both are scrubbed from whatever the attempt reports.
	r.Add(s, encoded)
	wh, err := standardwebhooks.NewWebhook(s)
	if err != nil {
		// The library wraps base64's error, which reports only an offset;
		// it is unwrapped rather than quoted so that nothing else the
		// library might add ends up in the outcome.
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return errors.New("signing_secret is invalid: want whsec_ followed by standard base64 (" + corrupt.Error() + ")")
		}
		return errors.New("signing_secret is invalid: want whsec_ followed by standard base64")
	}
	// The library would sign with an empty key, which anyone can forge.
	// base64 skips CR and LF, so valid input decodes to no bytes exactly
	// when nothing else is left.
	if strings.Trim(encoded, "\r\n") == "" {
		return errors.New("signing_secret is invalid: the key is empty")
	}
	if d.ID == "" {
		return errors.New("cannot sign: the delivery has no id")
	}
	now := e.cfg.Now()
	sig, err := wh.Sign(d.ID, now, body)
	if err != nil {
		return errors.New("cannot sign: " + err.Error())
	}

	// Set, not Add: the signature must be ours even if the rule set these.
	h.Set(standardwebhooks.HeaderWebhookID, d.ID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return nil
}
