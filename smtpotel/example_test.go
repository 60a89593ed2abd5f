package smtpotel_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtpotel"
	"github.com/mailwire/smtp/smtptest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// One message through a Pool, with its spans and metrics recorded in
// memory. A program passes its own providers, or nil for the global ones.
func Example() {
	srv := smtptest.NewServer(&smtptest.Config{Users: map[string]string{"ann": "s3cret"}})
	defer srv.Close()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	metrics := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	inst, err := smtpotel.New(tp, mp)
	if err != nil {
		log.Fatal(err)
	}

	pool, err := smtp.NewPool(srv.Addr(), &smtp.Options{
		TLSConfig: srv.ClientTLSConfig(),
		Auth:      smtp.PasswordAuth("ann", "s3cret"),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	env := &smtp.Envelope{From: "alice@example.com", To: []string{"bob@example.com"}}
	msg := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
	if _, err := inst.Send(context.Background(), pool, env, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}

	// The spans, in the order they ended, with their parent and a few of
	// their attributes.
	names := map[trace.SpanID]string{}
	for _, s := range spans.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	show := []attribute.Key{"tls.protocol.version", "smtp.auth.mechanism", "smtp.recipients.accepted", "smtp.reply.code"}
	for _, s := range spans.Ended() {
		line := s.Name()
		if p, ok := names[s.Parent().SpanID()]; ok {
			line += " (in " + p + ")"
		}
		for _, kv := range s.Attributes() {
			for _, k := range show {
				if kv.Key == k {
					line += " " + string(k) + "=" + kv.Value.String()
				}
			}
		}
		fmt.Println(line)
	}

	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "smtp.client.messages" {
			for _, p := range sum.DataPoints {
				outcome, _ := p.Attributes.Value("outcome")
				fmt.Printf("%s{outcome=%s} %d\n", m.Name, outcome.String(), p.Value)
			}
		}
	}
	// Output:
	// smtp.connect (in smtp.send)
	// smtp.tls (in smtp.send) tls.protocol.version=1.3
	// smtp.auth (in smtp.send) smtp.auth.mechanism=PLAIN smtp.reply.code=235
	// smtp.transaction (in smtp.send) smtp.reply.code=250 smtp.recipients.accepted=1
	// smtp.send smtp.recipients.accepted=1 smtp.reply.code=250
	// smtp.client.messages{outcome=accepted} 1
}
