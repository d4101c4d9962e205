package kafkaserver

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL/PLAIN (RFC 4616), with Kafka's framing: SaslHandshake (v1) names
// the mechanism, then SaslAuthenticate carries the client's message,
// "authzid NUL user NUL password". A connection that fails is answered
// with SASL_AUTHENTICATION_FAILED and closed, as Kafka closes it.

const mechanismPlain = "PLAIN"

func (c *conn) handleSASLHandshake(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.SASLHandshakeRequest)
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = []string{mechanismPlain}
	switch {
	case c.s.opts.SASLPlain == nil || c.authenticated:
		resp.ErrorCode = kerr.IllegalSaslState.Code
	case r.Mechanism != mechanismPlain:
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	default:
		c.mechanism = r.Mechanism
	}
	return resp, nil
}

func (c *conn) handleSASLAuthenticate(req *request) (kmsg.Response, error) {
	r := req.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.mechanism != mechanismPlain || c.authenticated {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = errorMessage(errors.New("SaslAuthenticate without a SaslHandshake naming PLAIN"))
		c.closeAfter = true
		return resp, nil
	}
	user, password, err := parsePlain(r.SASLAuthBytes)
	if err == nil {
		err = c.s.opts.SASLPlain(req.ctx, user, password)
	}
	if err != nil {
		c.s.opts.Logger.Info("kafkaserver: SASL/PLAIN authentication failed", "remote", c.nc.RemoteAddr().String(), "user", user, "err", err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = errorMessage(fmt.Errorf("authentication of user %q failed", user))
		c.closeAfter = true
		return resp, nil
	}
	c.authenticated, c.user = true, user
	resp.SASLAuthBytes = []byte{}
	return resp, nil
}

// parsePlain splits a SASL/PLAIN message. An authorization identity, if
// given, must be the user itself.
func parsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", errors.New("malformed SASL/PLAIN message")
	}
	authz, u, p := string(parts[0]), string(parts[1]), string(parts[2])
	if u == "" {
		return "", "", errors.New("SASL/PLAIN message without a user")
	}
	if authz != "" && authz != u {
		return u, "", fmt.Errorf("user %q may not act as %q", u, authz)
	}
	return u, p, nil
}
