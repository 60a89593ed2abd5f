// Command redisrate sends messages through a Pool whose pace is one rate
// shared by every process that uses the same Redis key: a provider's limit
// (say 20 messages a second for the account) holds however many senders
// run. It is the example of smtp.Limiter on Redis, with
// github.com/go-redis/redis_rate (GCRA, generic cell rate algorithm).
//
//	SMTP_ADDR=mail.example.com:587 REDIS_ADDR=127.0.0.1:6379 \
//	    go run ./redisrate -n 100 -rate 20 -key provider-x
//
// Durable queueing stays with the application: mailwire says what an error
// means for a retry (see the README of this directory).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/mailwire/smtp"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redisrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10, "messages to send")
	perSecond := fs.Int("rate", 10, "messages per second, shared by every process with the same -key")
	burst := fs.Int("burst", 1, "messages that may go at once, before the rate applies")
	key := fs.String("key", "mailwire-example", "the Redis key of the shared rate")
	senders := fs.Int("senders", 4, "goroutines sending at once")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	addr, redisAddr := os.Getenv("SMTP_ADDR"), os.Getenv("REDIS_ADDR")
	if addr == "" || redisAddr == "" {
		fmt.Fprintln(stderr, "redisrate: set SMTP_ADDR and REDIS_ADDR")
		return 2
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	limiter := &RedisLimiter{Limiter: redis_rate.NewLimiter(rdb), Key: *key, Limit: redis_rate.Limit{Rate: *perSecond, Period: time.Second, Burst: *burst}}

	// Plaintext: the example's tests run against a local smtptest server.
	pool, err := smtp.NewPool(addr, &smtp.Options{Security: smtp.Plaintext}, &smtp.PoolOptions{MaxConns: 2, MessageRate: limiter})
	if err != nil {
		fmt.Fprintln(stderr, "redisrate:", err)
		return 2
	}
	defer pool.Close()
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range *senders {
		wg.Go(func() {
			for i := range jobs {
				msg := fmt.Sprintf("Subject: message %d from pid %d\r\n\r\nhello\r\n", i, os.Getpid())
				env := &smtp.Envelope{From: "sender@example.com", To: []string{"bob@example.org"}}
				if _, err := pool.Send(context.Background(), env, strings.NewReader(msg)); err != nil {
					mu.Lock()
					failed++
					fmt.Fprintln(stderr, "redisrate:", err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Fprintf(stdout, "sent %d of %d in %.2fs\n", *n-failed, *n, time.Since(start).Seconds())
	if failed > 0 {
		return 1
	}
	return 0
}
