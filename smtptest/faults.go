package smtptest

import (
	"fmt"
	"math/rand"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// MaxFaultDelay bounds Fault.Delay: a slow server, not a hung test.
const MaxFaultDelay = 10 * time.Minute

// Fault is a misbehaviour the server shows at runtime (SetFault): at a
// step (a command verb, StepConnect or StepAfterData), or at RCPT for one
// recipient. It answers with an error, drops the connection, or waits
// first; and it can be limited to so many times, to after so many
// messages, to beyond a rate, or to a seeded share of the time.
type Fault struct {
	// Step is a command verb ("MAIL", "RCPT", "DATA"...), StepConnect or
	// StepAfterData; or "" with Recipient set.
	Step string
	// Recipient, with Step "", acts at RCPT TO for this address only.
	Recipient string
	// Reply is the error given (4xx or 5xx; a 421 closes the connection
	// after it). Its Code may be 0 when Drop or Delay says what to do.
	Reply Reply
	// Drop closes the connection at the step without a reply. At
	// StepAfterData the message is recorded first: the client cannot
	// know it was delivered.
	Drop bool
	// Delay waits this long (at most MaxFaultDelay) before the step's
	// answer: the error, the drop, or with neither the normal reply.
	Delay time.Duration
	// Times makes the fault act that many times, then no more; 0: always.
	Times int
	// After makes the fault act only once After more messages have been
	// accepted, counted from SetFault.
	After int
	// Rate and Per make the fault act only when the step comes more than
	// Rate times within Per, on all connections together: "421 after 10
	// messages a minute" is Step MAIL, Reply 421, Rate 10, Per a minute.
	Rate int
	Per  time.Duration
	// Probability makes it act that often (0 or 1: every time), drawn
	// from a source seeded with Seed: the same seed, the same draws, so a
	// test that failed can be replayed.
	Probability float64
	Seed        int64
}

// SetFault sets f, replacing a fault of the same step or recipient; it
// applies to what comes next, on every connection, before the Config's
// CommandErrors and DropAt. ClearFaults removes them all.
func (s *Server) SetFault(f Fault) error {
	key, err := f.key()
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	s.cfg.mu.Lock()
	defer s.cfg.mu.Unlock()
	if s.cfg.faults == nil {
		s.cfg.faults = map[string]*fault{}
	}
	if f.Probability > 0 && f.Probability < 1 {
		s.cfg.rng = rand.New(rand.NewSource(f.Seed))
	}
	s.cfg.faults[key] = &fault{Fault: f, base: s.cfg.accepted}
	return nil
}

// ClearFaults removes every fault SetFault set.
func (s *Server) ClearFaults() {
	s.cfg.mu.Lock()
	s.cfg.faults = nil
	s.cfg.mu.Unlock()
}

// key is where f is filed: its step, upper-cased, or "RCPT <recipient>".
func (f Fault) key() (string, error) {
	switch {
	case f.Step != "":
		return strings.ToUpper(f.Step), nil
	case f.Recipient != "":
		return "RCPT " + strings.ToLower(f.Recipient), nil
	}
	return "", fmt.Errorf("smtptest: a Fault needs a Step or a Recipient")
}

func (f Fault) check() error {
	switch {
	case f.Reply.Code == 0 && !f.Drop && f.Delay == 0:
		return fmt.Errorf("smtptest: a Fault needs a Reply, Drop or a Delay")
	case f.Reply.Code != 0 && (f.Reply.Code < 400 || f.Reply.Code > 599):
		return fmt.Errorf("smtptest: a Fault's reply code must be 4xx or 5xx, not %d", f.Reply.Code)
	case f.Delay < 0 || f.Delay > MaxFaultDelay:
		return fmt.Errorf("smtptest: a Fault's delay must be in [0, %v]", MaxFaultDelay)
	case f.Probability < 0 || f.Probability > 1:
		return fmt.Errorf("smtptest: a Fault's probability must be in [0, 1]")
	case f.Times < 0 || f.After < 0 || f.Rate < 0:
		return fmt.Errorf("smtptest: a Fault's times, after and rate must be 0 or more")
	case (f.Rate > 0) != (f.Per > 0):
		return fmt.Errorf("smtptest: a Fault's rate needs its period (Per), and the other way round")
	}
	return nil
}

// fault is a Fault as filed, with its state.
type fault struct {
	Fault
	used int         // times it acted
	base int         // messages accepted when it was set (After)
	seen []time.Time // when the step came, the last Rate+1 times (Rate)
}

// action is what the server does at a step: wait, then drop the
// connection or answer with err (neither: go on as normal).
type action struct {
	delay time.Duration
	drop  bool
	err   *gosmtp.SMTPError
}

// stepAction is what to do at step: a runtime fault's action if one acts
// now, else the Config's DropAt or CommandErrors (CommandErrorsTimes
// counted).
func (s *settings) stepAction(step string) action {
	if a, ok := s.runtimeFault(step); ok {
		return a
	}
	if step == s.dropAt && step != StepAfterData {
		return action{drop: true}
	}
	e := s.cmdErrors[step]
	if e == nil || s.CommandErrorsTimes <= 0 {
		return action{err: e}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmdErrUses[step] >= s.CommandErrorsTimes {
		return action{}
	}
	s.cmdErrUses[step]++
	return action{err: e}
}

// runtimeFault is the action of the fault set for key, if it acts now.
func (s *settings) runtimeFault(key string) (action, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[key]
	if f == nil || !f.acts(s.accepted, s.rng) {
		return action{}, false
	}
	f.used++
	a := action{delay: f.Delay, drop: f.Drop}
	if f.Reply.Code != 0 {
		a.err = f.Reply.smtpError()
	}
	return a, true
}

// acts says whether f acts this time, noting the time for its rate.
func (f *fault) acts(accepted int, rng *rand.Rand) bool {
	if f.Rate > 0 {
		now := time.Now()
		f.seen = append(f.seen, now)
		if len(f.seen) > f.Rate+1 {
			f.seen = f.seen[len(f.seen)-f.Rate-1:]
		}
		if len(f.seen) <= f.Rate || now.Sub(f.seen[0]) > f.Per {
			return false
		}
	}
	switch {
	case accepted-f.base < f.After:
		return false
	case f.Times > 0 && f.used >= f.Times:
		return false
	case f.Probability > 0 && f.Probability < 1 && rng.Float64() >= f.Probability:
		return false
	}
	return true
}

// noteAccepted counts a recorded message, for Fault.After.
func (s *settings) noteAccepted() {
	s.mu.Lock()
	s.accepted++
	s.mu.Unlock()
}

// pause waits d, or until the server closes or the connection drops.
func (w *wire) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	w.logf("waiting %v (fault)", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.srv.done:
	}
}
