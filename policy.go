package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
)

// The TLS policy of one MX host in a delivery: DANE when the host has
// authentic TLSA records (RFC 7672), else the domain's MTA-STS policy
// (RFC 8461), else opportunistic STARTTLS; and each attempt's outcome in
// TLS-RPT's words (RFC 8460).

// hostPolicy is what applies to one MX host.
type hostPolicy struct {
	dane *tlsaLookup // authentic TLSA records: DANE applies
	sts  stsOutcome  // the domain's MTA-STS policy, or why there is none
	// stsListed says the host matches the policy's mx patterns.
	stsListed bool
	// requireTLS: the message asks for REQUIRETLS (RFC 8689), so this
	// hop must be TLS with a verified certificate, to a host whose name
	// is DNSSEC-validated or in an MTA-STS policy, that offers REQUIRETLS.
	requireTLS bool
}

// hostPolicy works out host's policy. An error means the host must not be
// used: its TLSA lookup failed (a bogus answer), or MTA-STS in enforce
// mode does not list it; the returned policy says so in TLS-RPT's words.
func (d *deliverer) hostPolicy(ctx context.Context, host string, secureMX bool, sts stsOutcome, requireTLS bool) (*hostPolicy, error) {
	hp := &hostPolicy{sts: sts, requireTLS: requireTLS}
	if sts.policy != nil {
		hp.stsListed = sts.policy.Matches(host)
	}
	if secureMX {
		// The MX answer is authentic, so the host's name is: its TLSA
		// records can be trusted too, if they are (RFC 7672 section
		// 2.2.1).
		dane, err := d.hostTLSA(ctx, host)
		if err != nil {
			hp.dane = &tlsaLookup{}
			return hp, &tlsaLookupError{err}
		}
		if dane != nil {
			hp.dane = dane
			return hp, nil // DANE, where it applies, prevails over MTA-STS
		}
	}
	if requireTLS && !secureMX && !hp.stsListed {
		return hp, fmt.Errorf("%w: REQUIRETLS: the MX host %s was neither found through DNSSEC-validated DNS nor listed in an MTA-STS policy (RFC 8689 section 4.2.1)", ErrRequireTLSNotOffered, host)
	}
	if hp.stsMode() == "enforce" && !hp.stsListed {
		return hp, fmt.Errorf("smtp: MX host %s is not in the domain's MTA-STS policy (mode enforce, mx %v)", host, sts.policy.MX)
	}
	return hp, nil
}

// tlsaLookupError is a failed TLSA lookup.
type tlsaLookupError struct{ err error }

func (e *tlsaLookupError) Error() string {
	return fmt.Sprintf("%v: the host can be neither authenticated nor known to need none, so it is not used (RFC 7672 section 2.2)", e.err)
}
func (e *tlsaLookupError) Unwrap() error { return e.err }

// hostTLSA looks up host's TLSA records: nil when it has none or they are
// not authentic (then DANE does not apply); an error when the lookup
// failed, as for a bogus answer.
func (d *deliverer) hostTLSA(ctx context.Context, host string) (*tlsaLookup, error) {
	tl, err := d.dns.lookupTLSA(ctx, host, d.port())
	if err != nil {
		return nil, err
	}
	if !tl.Secure || tl.Found == 0 {
		return nil, nil
	}
	return &tl, nil
}

// stsMode is the MTA-STS mode that applies: "" when DANE does, or when
// no policy (or mode none) does.
func (hp *hostPolicy) stsMode() string {
	if hp.dane != nil || hp.sts.policy == nil || hp.sts.policy.Mode == "none" {
		return ""
	}
	return hp.sts.policy.Mode
}

// newCheck is the Web PKI check of an attempt under MTA-STS, nil
// otherwise.
func (hp *hostPolicy) newCheck() *webPKICheck {
	if hp.stsMode() == "" {
		return nil
	}
	return &webPKICheck{}
}

func (hp *hostPolicy) daneRecords() []string {
	if hp.dane == nil {
		return nil
	}
	var out []string
	for _, r := range hp.dane.Records {
		out = append(out, r.String())
	}
	return out
}

// clientOptions are the caller's Options for a connection to host under
// hp. DANE: TLS mandatory, the TLSA records (not the Web PKI) decide the
// certificate; TLSA records none of which SMTP can use still make TLS
// mandatory, unauthenticated (RFC 7672 section 2.2). MTA-STS enforce:
// TLS mandatory, the certificate valid for host in the Web PKI; testing:
// the same check made and kept, never failing the delivery.
func (hp *hostPolicy) clientOptions(opts *DeliverOptions, host string, check *webPKICheck) *Options {
	var o Options
	if opts.Options != nil {
		o = *opts.Options
	}
	o.Auth = nil
	o.Security = StartTLSOptional
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	cfg.ServerName = host
	mode := hp.stsMode()
	switch {
	case hp.dane != nil && len(hp.dane.Records) > 0:
		o.Security, o.Pins = StartTLS, nil
		cfg = daneTLSConfig(cfg, hp.dane.Records, host)
	case hp.dane != nil && !hp.requireTLS:
		o.Security = StartTLS
		cfg.InsecureSkipVerify = true
	case mode != "":
		check.roots, check.host = cfg.RootCAs, host
		cfg.InsecureSkipVerify = true // checked by check.verify, which keeps the error
		if mode == "enforce" || hp.requireTLS {
			o.Security = StartTLS
			cfg.VerifyConnection = check.verify
		} else {
			cfg.VerifyConnection = func(cs tls.ConnectionState) error { check.verify(cs); return nil }
		}
	}
	if opts.RequireTLS || hp.requireTLS {
		o.Security = StartTLS
	}
	o.TLSConfig = cfg
	return &o
}

// result is an attempt's outcome in TLS-RPT's words: the policy that
// applied, and what failed against it (tlsDesc: the TLS the session got,
// "" for none; err: the attempt's error; check: the Web PKI check under
// MTA-STS).
func (hp *hostPolicy) result(tlsDesc string, err error, check ...*webPKICheck) TLSResult {
	var tlsErr *tlsaLookupError
	switch {
	case hp.dane != nil:
		return daneResult(err, errors.As(err, &tlsErr))
	case hp.stsMode() != "":
		var c *webPKICheck
		if len(check) > 0 {
			c = check[0]
		}
		return hp.stsResult(tlsDesc, err, c)
	case hp.sts.resultType != "":
		return TLSResult{PolicyType: "sts", ResultType: hp.sts.resultType, FailureReason: hp.sts.reason}
	}
	return TLSResult{PolicyType: "no-policy-found"}
}

// daneResult is an attempt under DANE in TLS-RPT's words.
func daneResult(err error, lookupFailed bool) TLSResult {
	r := TLSResult{PolicyType: "tlsa"}
	switch {
	case err == nil:
		return r
	case lookupFailed:
		r.ResultType = "dnssec-invalid"
	case errors.Is(err, ErrStartTLSNotOffered), errors.Is(err, ErrStartTLSRefused):
		r.ResultType = "starttls-not-supported"
	case errors.Is(err, ErrDANEMismatch):
		r.ResultType = "tlsa-invalid"
	case Classify(err) == ClassSecurity:
		r.ResultType = "validation-failure"
	default:
		return r // not a TLS failure: nothing to report
	}
	r.FailureReason = err.Error()
	return r
}

// stsResult is an attempt under MTA-STS in TLS-RPT's words: in testing
// mode too, what would have failed in enforce mode.
func (hp *hostPolicy) stsResult(tlsDesc string, err error, check *webPKICheck) TLSResult {
	r := TLSResult{PolicyType: "sts"}
	switch {
	case !hp.stsListed:
		r.ResultType, r.FailureReason = "validation-failure", "the MX host is not in the MTA-STS policy"
		if err != nil {
			r.FailureReason = err.Error()
		}
	case check != nil && check.err != nil:
		r.ResultType, r.FailureReason = certResultType(check.err), check.err.Error()
	case errors.Is(err, ErrStartTLSNotOffered), errors.Is(err, ErrStartTLSRefused):
		r.ResultType, r.FailureReason = "starttls-not-supported", err.Error()
	case err == nil && tlsDesc == "":
		r.ResultType, r.FailureReason = "starttls-not-supported", "delivered in plaintext (mode testing)"
	}
	return r
}
