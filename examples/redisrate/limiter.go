package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// RedisLimiter is an smtp.Limiter whose tokens live in Redis, under Key:
// every process using the same Key shares Limit.
type RedisLimiter struct {
	Limiter *redis_rate.Limiter
	Key     string
	Limit   redis_rate.Limit
}

// WaitN waits until Redis grants n units, or ctx ends.
func (l *RedisLimiter) WaitN(ctx context.Context, n int) error {
	if n > l.Limit.Burst {
		return fmt.Errorf("redis limiter %s: %d units at once exceed the burst of %d", l.Key, n, l.Limit.Burst)
	}
	for {
		res, err := l.Limiter.AllowN(ctx, l.Key, l.Limit, n)
		if err != nil {
			return fmt.Errorf("redis limiter %s: %w", l.Key, err)
		}
		if res.Allowed == n {
			return nil
		}
		t := time.NewTimer(res.RetryAfter)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}
