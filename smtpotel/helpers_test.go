package smtpotel_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailwire/smtp"
	"github.com/mailwire/smtp/smtpotel"
	"github.com/mailwire/smtp/smtptest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const (
	testUser     = "ann"
	testPassword = "Tr0ub4dor&3-horse" // must appear in no span, event or metric
	testMessage  = "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello, Bob.\r\n"
)

// harness is an Instrumentation whose spans and metrics a test reads.
type harness struct {
	inst   *smtpotel.Instrumentation
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	var err error
	if h.inst, err = smtpotel.New(tp, mp); err != nil {
		t.Fatal(err)
	}
	return h
}

// newServer starts an smtptest server with STARTTLS and AUTH, that refuses
// the recipients whose address starts with "nobody".
func newServer(t *testing.T, cfg *smtptest.Config) *smtptest.Server {
	t.Helper()
	if cfg == nil {
		cfg = &smtptest.Config{}
	}
	cfg.TLS = smtptest.StartTLS
	cfg.Users = map[string]string{testUser: testPassword}
	noSuchUser := &smtptest.Reply{Code: 550, EnhancedCode: smtptest.EnhancedCode{5, 1, 1}, Message: "No such user"}
	cfg.RejectRecipients = map[string]*smtptest.Reply{"nobody@example.org": noSuchUser, "nobody2@example.org": noSuchUser}
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func clientOptions(srv *smtptest.Server) *smtp.Options {
	return &smtp.Options{TLSConfig: srv.ClientTLSConfig(), Auth: smtp.PasswordAuth(testUser, testPassword)}
}

func newPool(t *testing.T, addr string, opts *smtp.Options, popts *smtp.PoolOptions) *smtp.Pool {
	t.Helper()
	p, err := smtp.NewPool(addr, opts, popts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func envelope(to ...string) *smtp.Envelope {
	return &smtp.Envelope{From: "alice@example.com", To: to}
}

// named returns the ended spans named name.
func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// children returns the ended spans whose parent is p.
func children(spans []sdktrace.ReadOnlySpan, p sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().SpanID() == p.SpanContext().SpanID() && s.Parent().TraceID() == p.SpanContext().TraceID() {
			out = append(out, s)
		}
	}
	return out
}

func childNames(spans []sdktrace.ReadOnlySpan, p sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, s := range children(spans, p) {
		names = append(names, s.Name())
	}
	slices.Sort(names)
	return names
}

// only returns the one span named name, failing the test when there is
// not exactly one.
func only(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	found := named(spans, name)
	if len(found) != 1 {
		t.Fatalf("%d spans %q, want 1", len(found), name)
	}
	return found[0]
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs checks attributes of a span; a want of nil checks the
// attribute is absent.
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]any) {
	t.Helper()
	for key, w := range want {
		v, ok := attr(s, key)
		switch {
		case w == nil && ok:
			t.Errorf("span %s: %s = %v, want none", s.Name(), key, v.String())
		case w == nil:
		case !ok:
			t.Errorf("span %s: no %s, want %v", s.Name(), key, w)
		case fmt.Sprint(v.AsInterface()) != fmt.Sprint(w):
			t.Errorf("span %s: %s = %v, want %v", s.Name(), key, v.AsInterface(), w)
		}
	}
}

func wantStatus(t *testing.T, s sdktrace.ReadOnlySpan, code codes.Code) {
	t.Helper()
	if s.Status().Code != code {
		t.Errorf("span %s: status %v %q, want %v", s.Name(), s.Status().Code, s.Status().Description, code)
	}
}

// collect reads the metrics recorded so far.
func (h *harness) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// matches reports whether set holds every attribute of want.
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// count is the sum of a counter's points, or the count of a histogram's,
// over those that have the attributes given.
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, attrs) {
						n += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, attrs) {
						n += int64(p.Count)
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes, attrs) {
						n += int64(p.Count)
					}
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", name, m.Data)
			}
		}
	}
	return n
}

// logSpans logs the spans as a tree, with their attributes, for -v.
func logSpans(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	var b strings.Builder
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(&b, "%s%s [span %s, parent %s] status=%v", strings.Repeat("  ", depth), s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID(), s.Status().Code)
		if s.Status().Description != "" {
			fmt.Fprintf(&b, " %q", s.Status().Description)
		}
		for _, kv := range s.Attributes() {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.String())
		}
		for _, ev := range s.Events() {
			fmt.Fprintf(&b, " event:%s", ev.Name)
		}
		b.WriteByte('\n')
		kids := children(spans, s)
		slices.SortFunc(kids, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, s := range spans {
		if !s.Parent().IsValid() {
			walk(s, 0)
		}
	}
	t.Logf("spans:\n%s", b.String())
}

// logMetrics logs every data point, for -v.
func logMetrics(t *testing.T, rm metricdata.ResourceMetrics) {
	t.Helper()
	var b strings.Builder
	attrs := func(s attribute.Set) string {
		var parts []string
		for _, kv := range s.ToSlice() {
			parts = append(parts, string(kv.Key)+"="+kv.Value.String())
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(&b, "%s%s = %d\n", m.Name, attrs(p.Attributes), p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(&b, "%s%s count=%d sum=%.4f%s\n", m.Name, attrs(p.Attributes), p.Count, p.Sum, m.Unit)
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(&b, "%s%s count=%d sum=%d%s\n", m.Name, attrs(p.Attributes), p.Count, p.Sum, m.Unit)
				}
			}
		}
	}
	t.Logf("metrics:\n%s", b.String())
}
