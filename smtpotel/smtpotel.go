package smtpotel

import (
	"context"
	"io"

	"github.com/mailwire/smtp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter: the
// import path of this package.
const ScopeName = "github.com/mailwire/smtp/smtpotel"

// Sender sends one message, as Send wraps it: *smtp.Client and *smtp.Pool
// both are Senders.
type Sender interface {
	Send(ctx context.Context, env *smtp.Envelope, msg io.Reader) (*smtp.Receipt, error)
}

// Instrumentation makes the spans and records the metrics of the calls it
// wraps (see the package documentation for their names). Make one with New
// and share it: it is safe for concurrent use, by as many Clients and Pools
// as the program has.
type Instrumentation struct {
	tracer trace.Tracer
	ins    *instruments
	conns  conns
}

// New returns an Instrumentation that makes its spans with tp and records
// its metrics with mp, under the scope [ScopeName]. A nil provider means the
// global one ([otel.GetTracerProvider], [otel.GetMeterProvider]), so that
// New(nil, nil) follows the program's otel setup. It fails only when mp
// refuses an instrument.
func New(tp trace.TracerProvider, mp metric.MeterProvider) (*Instrumentation, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	ins, err := newInstruments(mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	if err != nil {
		return nil, err
	}
	i := &Instrumentation{
		tracer: tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		ins:    ins,
	}
	return i, nil
}

// Send sends the message through s, as s.Send does, inside a span
// "smtp.send" (a child of ctx's span; SpanKindClient) with a child span for
// each step the call takes: "smtp.connect", "smtp.tls" and "smtp.auth" when
// it opens a connection (a Pool dialling, or redialling a dead one), and
// "smtp.transaction" for each mail transaction, from MAIL FROM to the
// connection being ready again. It records the metrics of the message:
// smtp.client.messages, .recipients, .message.size, .send.duration,
// .replies, and, for a Pool, .pool.wait and .retries.
//
// It watches the call through a trace of its own, given with
// [smtp.WithTrace] (composed with any the caller put in ctx, which still
// hears every event), so s must be (or end in) an *smtp.Client or
// *smtp.Pool called with the ctx it gets. The Receipt and the error are
// s.Send's, untouched; on failure the span's status is Error with
// the error's text (the library never puts a secret in one) and error.type
// is set. Send is safe for concurrent use.
func (i *Instrumentation) Send(ctx context.Context, s Sender, env *smtp.Envelope, msg io.Reader) (*smtp.Receipt, error) {
	_, isClient := s.(*smtp.Client)
	c := i.startSend(ctx, !isClient)
	r, err := s.Send(c.traced, env, msg)
	c.finish(r, err)
	return r, err
}

// Dial is [smtp.Dial] inside a span "smtp.dial" (SpanKindClient), with the
// child spans "smtp.connect", "smtp.tls" and "smtp.auth" (when opts.Auth is
// set). The Client it returns is the one [smtp.Dial] returns: pass it to Send
// for spans of its messages. The Instrumentation remembers the address the
// Client was dialled to, so that those spans carry server.address.
func (i *Instrumentation) Dial(ctx context.Context, addr string, opts *smtp.Options) (*smtp.Client, error) {
	c := i.startDial(ctx, addr)
	cl, err := smtp.Dial(c.traced, addr, opts)
	c.finish(nil, err)
	return cl, err
}
