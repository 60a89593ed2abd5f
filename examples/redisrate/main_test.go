package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mailwire/smtp/examples/internal/progtest"
	"github.com/mailwire/smtp/smtptest"
)

// TestTwoProcessesShareOneRate runs the program twice at once against one
// smtptest server, each with its own Pool, both paced by one rate of 20
// messages a second in the real Redis the test command starts: 60 messages
// in all cannot take less than 2.9 s (the first goes at once), and the
// rate they reach is logged.
func TestTwoProcessesShareOneRate(t *testing.T) {
	redisAddr := os.Getenv("MAILWIRE_REDIS_ADDR")
	if os.Getenv("MAILWIRE_REDIS") != "1" || redisAddr == "" {
		t.Skip("no Redis: run the README's test command (scripts/test.sh), or scripts/redis/up.sh and its env")
	}
	bin := progtest.Build(t, ".")
	srv := smtptest.NewServer(&smtptest.Config{})
	defer srv.Close()
	key := fmt.Sprintf("mailwire-test-%d", time.Now().UnixNano())
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	defer rdb.Del(context.Background(), "rate:"+key)

	env := []string{"SMTP_ADDR=" + srv.Addr(), "REDIS_ADDR=" + redisAddr}
	start := time.Now()
	var wg sync.WaitGroup
	results := make([]progtest.Result, 2)
	for i := range results {
		wg.Go(func() { results[i] = progtest.Run(t, bin, env, "-n", "30", "-rate", "20", "-key", key) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, r := range results {
		if r.Code != 0 || !strings.Contains(r.Stdout, "sent 30 of 30") {
			t.Errorf("process %d: %v", i, r)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 60 {
		t.Fatalf("%d messages arrived, want 60", len(msgs))
	}
	// Measured from the first message to the last, as the server saw them.
	first, last := msgs[0].Time, msgs[len(msgs)-1].Time
	span := last.Sub(first)
	if span < 2800*time.Millisecond { // 59 intervals of 50 ms, less some scheduling slack
		t.Errorf("60 messages in %v at a shared 20 a second: the two processes did not share the rate", span)
	}
	t.Logf("60 messages from 2 processes: %v from first to last (%.1f messages/s for a rate of 20), %v in all", span, 59/span.Seconds(), elapsed)
}
