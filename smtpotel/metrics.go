package smtpotel

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// durationBuckets are the bounds, in seconds, of the duration histograms:
// the semantic conventions' advice for HTTP client durations, which fits a
// mail submission as well (milliseconds on a LAN, seconds to a far server
// or through a slow TLS handshake).
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// sizeBuckets are the bounds, in bytes, of smtp.client.message.size: from a
// one-line note to the 25 to 50 MB that the big providers take.
var sizeBuckets = []float64{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}

// instruments are the metrics an Instrumentation records (see the package
// documentation for what each counts).
type instruments struct {
	messages     metric.Int64Counter
	recipients   metric.Int64Counter
	messageSize  metric.Int64Histogram
	sendDuration metric.Float64Histogram
	poolWait     metric.Float64Histogram
	retries      metric.Int64Counter
	replies      metric.Int64Counter
}

// newInstruments makes the instruments with m.
func newInstruments(m metric.Meter) (*instruments, error) {
	var ins instruments
	var err, e error
	ins.messages, e = m.Int64Counter("smtp.client.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Messages sent, by outcome: accepted, rejected (a 4xx or 5xx reply), failed, or unknown (connection lost after the end of data)."))
	err = errors.Join(err, e)
	ins.recipients, e = m.Int64Counter("smtp.client.recipients", metric.WithUnit("{recipient}"),
		metric.WithDescription("Recipients of the messages sent, by outcome: accepted or rejected by the server."))
	err = errors.Join(err, e)
	ins.messageSize, e = m.Int64Histogram("smtp.client.message.size", metric.WithUnit("By"),
		metric.WithDescription("Size of each message content sent, once per mail transaction."),
		metric.WithExplicitBucketBoundaries(sizeBuckets...))
	err = errors.Join(err, e)
	ins.sendDuration, e = m.Float64Histogram("smtp.client.send.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of each Send, from the call to its return."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	err = errors.Join(err, e)
	ins.poolWait, e = m.Float64Histogram("smtp.client.pool.wait", metric.WithUnit("s"),
		metric.WithDescription("Time a Send of a Pool waited for its connection: from the call to the first event of the connection it used (reused, connecting, or its first command)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	err = errors.Join(err, e)
	ins.retries, e = m.Int64Counter("smtp.client.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Sends tried again by a Pool: on a new connection after the one it took proved dead, or after the server throttled it."))
	err = errors.Join(err, e)
	ins.replies, e = m.Int64Counter("smtp.client.replies", metric.WithUnit("{reply}"),
		metric.WithDescription("Replies received from servers, by reply code and enhanced status code."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	return &ins, nil
}
