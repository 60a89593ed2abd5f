// Package smtpotel traces and measures the mail a program sends with
// github.com/mailwire/smtp, with OpenTelemetry: a span for each message
// sent and each connection dialled, with child spans for the steps of the
// call (connecting, TLS, AUTH, each mail transaction), and metrics of the
// messages, recipients, server replies and waits.
//
// It is a module of its own (github.com/mailwire/smtp/smtpotel), so that
// the core module depends on no OpenTelemetry package: a program that does
// not import smtpotel neither downloads nor links one.
//
//	inst, err := smtpotel.New(nil, nil) // the global TracerProvider and MeterProvider
//	pool, err := smtp.NewPool(addr, &smtp.Options{Auth: auth}, nil)
//	r, err := inst.Send(ctx, pool, env, msg) // instead of pool.Send(ctx, env, msg)
//
// [Instrumentation.Send] and [Instrumentation.Dial] give the call a trace of
// its own with [smtp.WithTrace], as net/http/httptrace does for a request,
// and turn its events into spans; nothing of the library is wrapped or
// changed, and Options.Trace still receives every event. The spans of
// concurrent Sends through one Pool never mix: each call's trace hears
// only that call, the Pool's own events for it included (taking an idle
// connection up again, throttling). A trace the caller put in ctx with
// [smtp.WithTrace] still hears every event ([smtp.ContextTrace],
// [smtp.ComposeTrace]).
//
// # Spans
//
// "smtp.send" (SpanKindClient; a child of ctx's span) covers one Send; its
// children are made from the call's events:
//
//   - "smtp.connect": from EventConnectStart to EventConnectDone, when the
//     call opens a connection (a Pool that has no idle one, or replaces a
//     dead one). Attributes server.address, server.port, network.transport
//     ("tcp"), network.peer.address and network.peer.port (the proxy's,
//     through a proxy), smtp.proxy.
//   - "smtp.tls": the TLS handshake, implicit or after STARTTLS.
//     Attributes tls.protocol.name ("tls"), tls.protocol.version ("1.3"),
//     tls.cipher (its IANA name, "TLS_AES_128_GCM_SHA256"), tls.resumed;
//     when it fails, error.type is the Go type of what TLS refused
//     ("*tls.CertificateVerificationError").
//   - "smtp.auth": from the AUTH command to its final reply (235, or a
//     refusal). Attributes smtp.auth.mechanism ("PLAIN": the word after
//     AUTH, nothing more), smtp.reply.code, smtp.reply.enhanced_code.
//   - "smtp.transaction": one mail transaction, from MAIL FROM to the
//     connection being ready for the next (EventIdle) or the end of the
//     call; a Send split by the server's recipient limits, or retried by
//     a Pool, has several. Attributes smtp.recipients.accepted and
//     .rejected (by its RCPT replies, and over LMTP by the replies for
//     each recipient after the message), smtp.message.size (bytes of
//     content sent), smtp.reply.code and .enhanced_code (of the reply to
//     the message, or of the reply that refused MAIL, DATA or the
//     message).
//
// "smtp.send" itself has server.address, server.port, network.transport,
// smtp.proxy (when it connected through one), smtp.transactions,
// smtp.message.size, smtp.recipients.accepted and .rejected (from the Receipt, or the *smtp.RecipientsError), and
// smtp.reply.code and .enhanced_code (the Receipt's reply, or the refusal's).
// A throttling reply the Pool reports is an event "smtp.throttled"
// of it, with smtp.throttle.reason (the Pool's account of its wait),
// smtp.reply.code and smtp.reply.enhanced_code.
//
// "smtp.dial" (SpanKindClient) covers one Dial, with the children
// smtp.connect, smtp.tls and smtp.auth.
//
// A span that failed has the status Error, with the error's text, and
// error.type: the reply code for a refusal by the server ("550"; the first
// refusal of a *smtp.RecipientsError), else the class [smtp.Classify] gives
// ("network", "timeout", "security", "delivery_unknown"...). The server's
// address on a Send that reuses a connection comes from that connection's
// dial, when this Instrumentation saw it (in an instrumented call).
//
// Never recorded: message content, the sender's address, user names,
// passwords and whatever follows the mechanism on an AUTH line (the
// library has already replaced it with "[redacted]"), and queue ids (the
// server's text is not parsed for one). The server's own words, and the
// addresses of refused recipients, appear only in the status of a failed
// span, within the error's text.
//
// # Metrics
//
// The meter is named [ScopeName], "github.com/mailwire/smtp/smtpotel".
// server.address is on every metric, when known.
//
//   - smtp.client.messages (counter, {message}): each Send, by outcome:
//     "accepted" (the server took it, perhaps not for every recipient),
//     "rejected" (a 4xx or 5xx reply refused it: [smtp.Classify] says
//     temporary or permanent), "unknown" ([smtp.ErrDeliveryUnknown]: it may
//     have been delivered), "failed" (anything else: network, TLS, AUTH,
//     a timeout, a bad argument).
//   - smtp.client.recipients (counter, {recipient}): recipients, by
//     outcome "accepted" or "rejected".
//   - smtp.client.message.size (histogram, By): the size of the message
//     content, each time it is sent (once per transaction).
//   - smtp.client.send.duration (histogram, s): each Send, from the call to
//     its return; with error.type when it failed.
//   - smtp.client.pool.wait (histogram, s): how long a Send through a Pool
//     (any Sender but an *smtp.Client) waited for its connection: from the
//     call to the first event of the connection it used, that is the Pool
//     taking an idle one up again (EventReused),
//     starting a new one (EventConnectStart), or else its first command.
//     It includes the Pool's pacing. Not recorded when the Send failed
//     before any event of a connection (a closed Pool, a context that
//     ended while waiting).
//   - smtp.client.retries (counter, {retry}): Sends tried again by a Pool,
//     by smtp.retry.reason: "reconnect" (a second connection in one Send:
//     the one taken proved dead) or "throttled" (a transaction begun again
//     after a throttling reply).
//   - smtp.client.replies (counter, {reply}): every reply received (its
//     final line), by smtp.reply.code and smtp.reply.enhanced_code (when
//     the reply has one of its class: 2, 4 or 5).
//
// The duration histograms have the buckets the semantic conventions
// advise for HTTP clients (5 ms to 10 s); message.size has buckets from
// 1 KiB to 64 MiB.
//
// # Semantic conventions
//
// The attribute names of OpenTelemetry's semantic conventions are used
// where they exist (semconv v1.43.0, whose schema URL the tracer and meter
// carry); the SMTP ones are this package's own, under "smtp.".
package smtpotel
