//go:build cgo

package main

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	smtp "github.com/mailwire/smtp"
)

// The handle tables. Handles come from one counter for clients and pools
// alike, so that one is never taken for the other, and are never reused.
var handles struct {
	mu      sync.Mutex
	last    uint64
	clients map[uint64]*clientEntry
	pools   map[uint64]*poolEntry
}

type clientEntry struct {
	mu    sync.Mutex // one call at a time on the connection
	c     *smtp.Client
	trace *traceBridge
}

type poolEntry struct {
	p     *smtp.Pool
	trace *traceBridge
}

func newHandle() uint64 {
	handles.last++
	return handles.last
}

func addClient(e *clientEntry) uint64 {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	if handles.clients == nil {
		handles.clients = map[uint64]*clientEntry{}
	}
	h := newHandle()
	handles.clients[h] = e
	return h
}

func addPool(e *poolEntry) uint64 {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	if handles.pools == nil {
		handles.pools = map[uint64]*poolEntry{}
	}
	h := newHandle()
	handles.pools[h] = e
	return h
}

// lookupClient finds a client; with remove set, the handle is released.
func lookupClient(h uint64, remove bool) (*clientEntry, *apiError) {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	e, ok := handles.clients[h]
	if !ok {
		if _, isPool := handles.pools[h]; isPool {
			return nil, invalid("handle %d is a pool, not a client", h)
		}
		return nil, invalid("unknown or closed client handle %d", h)
	}
	if remove {
		delete(handles.clients, h)
	}
	return e, nil
}

func lookupPool(h uint64, remove bool) (*poolEntry, *apiError) {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	e, ok := handles.pools[h]
	if !ok {
		if _, isClient := handles.clients[h]; isClient {
			return nil, invalid("handle %d is a client, not a pool", h)
		}
		return nil, invalid("unknown or closed pool handle %d", h)
	}
	if remove {
		delete(handles.pools, h)
	}
	return e, nil
}

// openHandles counts the handles not yet closed, for tests.
func openHandles() int {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	return len(handles.clients) + len(handles.pools)
}

// callContext bounds a call by timeoutMs (0: no bound).
func callContext(timeoutMs int) (context.Context, context.CancelFunc, *apiError) {
	switch {
	case timeoutMs < 0:
		return nil, nil, invalid("negative timeout_ms %d", timeoutMs)
	case timeoutMs == 0:
		ctx, cancel := context.WithCancel(context.Background())
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
	return ctx, cancel, nil
}

// openClient is mailwire_open.
func openClient(addr, optionsJSON string, tr *traceBridge, timeoutMs int) (uint64, *apiError) {
	opts, e := parseOptions(optionsJSON)
	if e != nil {
		return 0, e
	}
	if e := checkAddr(addr); e != nil {
		return 0, e
	}
	ctx, cancel, e := callContext(timeoutMs)
	if e != nil {
		return 0, e
	}
	defer cancel()
	opts.Trace = tr.trace()
	c, err := smtp.Dial(ctx, addr, opts)
	if err != nil {
		tr.disable()
		return 0, classify(err)
	}
	return addClient(&clientEntry{c: c, trace: tr}), nil
}

// clientSend is mailwire_send. A client handle serves one call at a time.
func clientSend(h uint64, env envelope, msg []byte, timeoutMs int) (string, *apiError) {
	ce, e := lookupClient(h, false)
	if e != nil {
		return "", e
	}
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return send(ce.c.Send, env, msg, timeoutMs)
}

// send runs one send of a client or a pool within timeoutMs and renders
// its receipt.
func send(sendFn func(context.Context, *smtp.Envelope, io.Reader) (*smtp.Receipt, error), env envelope, msg []byte, timeoutMs int) (string, *apiError) {
	ctx, cancel, e := callContext(timeoutMs)
	if e != nil {
		return "", e
	}
	defer cancel()
	r, err := sendFn(ctx, &smtp.Envelope{From: env.from, To: env.to}, bytes.NewReader(msg))
	if err != nil {
		return "", classify(err)
	}
	return receiptJSON(r), nil
}

// closeClient is mailwire_close. The handle is released first, so that it
// is gone whatever happens.
func closeClient(h uint64, timeoutMs int) *apiError {
	ce, e := lookupClient(h, true)
	if e != nil {
		return e
	}
	defer ce.trace.disable()
	ctx, cancel, e := callContext(timeoutMs)
	if e != nil {
		ce.c.Close()
		return e
	}
	defer cancel()
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if ce.c.Err() != nil {
		// An earlier call's error ended the connection, and that call
		// reported it: closing has nothing new to say.
		ce.c.Close()
		return nil
	}
	if err := ce.c.Quit(ctx); err != nil {
		return classify(err)
	}
	return nil
}

// openPool is mailwire_pool_open. The pool dials nothing yet; the options
// are checked now so that a mistake shows here rather than at every send.
func openPool(addr, optionsJSON, poolOptionsJSON string, tr *traceBridge) (uint64, *apiError) {
	opts, e := parseOptions(optionsJSON)
	if e != nil {
		return 0, e
	}
	popts, e := parsePoolOptions(poolOptionsJSON)
	if e != nil {
		return 0, e
	}
	if e := checkAddr(addr); e != nil {
		return 0, e
	}
	opts.Trace = tr.trace()
	p, err := smtp.NewPool(addr, opts, popts)
	if err != nil {
		return 0, classify(err)
	}
	return addPool(&poolEntry{p: p, trace: tr}), nil
}

// poolSend is mailwire_pool_send. A pool handle serves any threads.
func poolSend(h uint64, env envelope, msg []byte, timeoutMs int) (string, *apiError) {
	pe, e := lookupPool(h, false)
	if e != nil {
		return "", e
	}
	return send(pe.p.Send, env, msg, timeoutMs)
}

// closePool is mailwire_pool_close. Pool.Close takes no context, so it
// runs on its own goroutine and the call waits for it at most timeoutMs.
func closePool(h uint64, timeoutMs int) *apiError {
	pe, e := lookupPool(h, true)
	if e != nil {
		return e
	}
	defer pe.trace.disable()
	if timeoutMs < 0 {
		go pe.p.Close()
		return invalid("negative timeout_ms %d (the pool is closing in the background)", timeoutMs)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pe.p.Close()
	}()
	if timeoutMs == 0 {
		<-done
		return nil
	}
	t := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return &apiError{status: statusTimeout, Category: categoryOf(statusTimeout),
			Error: "mailwire: the pool did not finish closing within timeout_ms; it goes on closing in the background"}
	}
}
