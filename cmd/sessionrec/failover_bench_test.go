package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

// BenchmarkFailover measures a takeover after a crash, against the real
// broker: two instances share 2 partitions holding SESSIONREC_FAILOVER_USERS
// users (default 200,000, one click each); the owner of one partition is
// killed with SIGKILL, and the time is taken from the kill to the other
// instance answering a query for a user of that partition with its state
// (s/failover). With --standby 1 the survivor has followed the
// partition's changelog and restores only its tail; without, it restores
// the partition from the changelog's start. Both wait out the group's
// session timeout (6 s here) before the partition moves.
//
//	go test ./cmd/sessionrec -run '^$' -bench Failover -benchtime 1x
func BenchmarkFailover(b *testing.B) {
	brokers := os.Getenv("SESSIONREC_BROKERS")
	require.NotEmpty(b, brokers, "SESSIONREC_BROKERS is not set: this benchmark needs the real broker")
	users := 200_000
	if v := os.Getenv("SESSIONREC_FAILOVER_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		users = n
	}
	bin := buildBinary(b)
	modelPath, known := trainTestModel(b)
	var item string
	for id := range known {
		item = id
		break
	}
	for _, standby := range []int{0, 1} {
		b.Run(fmt.Sprintf("standby=%d", standby), func(b *testing.B) {
			b.StopTimer() // only the failover itself is timed
			for range b.N {
				benchFailover(b, brokerList(brokers), bin, modelPath, item, users, standby)
			}
		})
	}
}

func benchFailover(b *testing.B, brokers []string, bin, modelPath, item string, users, standby int) {
	sfx := fmt.Sprintf("-failover-%d", rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	group := "sessionrec" + sfx
	adm, err := topics.NewAdmin(brokers)
	require.NoError(b, err)
	defer adm.Close()
	require.NoError(b, adm.Create(b.Context(), names, topics.TopicConfig{Partitions: 2}))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	evs := make([]topics.Event, users)
	for i := range evs {
		evs[i] = topics.Event{Kind: topics.KindClick, UserID: fmt.Sprintf("failover-%07d", i), ItemID: item, Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	prod := topics.NewProducer(brokers, names)
	_, err = topics.Replay(b.Context(), prod, evs, topics.ReplayConfig{})
	require.NoError(b, err)
	require.NoError(b, prod.Close())

	logs := &lockedLogs{}
	instance := func(name string) *faultInstance {
		return groupInstance(b, bin, logs, brokers, group, names, name, "--model", modelPath, "--standby", strconv.Itoa(standby))
	}
	x, y := instance("x"), instance("y")
	x.start()
	x.ready(2 * time.Minute)
	y.start()
	y.ready(2 * time.Minute)
	groupSettled(b, adm, group, names.Clicks, 2, x, y)
	x.caughtUp(adm, group, names, 10*time.Minute)
	// A user of x's partition: y answers 421 naming x.
	var victim string
	for i := 0; victim == "" && i < users; i++ {
		u := evs[i].UserID
		code, body := httpGet(y.api, "/v1/users/"+u+"/session", 2*time.Second)
		if code == 421 && strings.Contains(body, x.api) {
			victim = u
		}
	}
	require.NotEmpty(b, victim)
	if standby > 0 {
		// y's standby has caught up when its records applied stop growing.
		last, still := -1.0, 0
		for still < 10 {
			n := metricSum(y.metrics(), "sessionrec_restored_records_total")
			if n == last && n > 0 {
				still++
			} else {
				still = 0
			}
			last = n
			time.Sleep(200 * time.Millisecond)
		}
	}
	restoredBefore := metricSum(y.metrics(), "sessionrec_restored_records_total")
	b.StartTimer()
	start := time.Now()
	x.kill()
	for {
		code, body := httpGet(y.api, "/v1/users/"+victim+"/session", 2*time.Second)
		if code == 200 {
			var s struct {
				Applied uint64 `json:"applied"`
			}
			require.NoError(b, json.Unmarshal([]byte(body), &s))
			require.Equal(b, uint64(1), s.Applied)
			break
		}
		require.Less(b, time.Since(start), 5*time.Minute, "no answer for %s; logs:\n%s", victim, logs.String())
		time.Sleep(10 * time.Millisecond)
	}
	d := time.Since(start)
	b.StopTimer()
	restored := metricSum(y.metrics(), "sessionrec_restored_records_total") - restoredBefore
	b.ReportMetric(d.Seconds(), "s/failover")
	b.ReportMetric(restored, "records-restored")
	b.Logf("standby %d, %d users: failover %s, %.0f changelog records restored by the takeover", standby, users, d.Round(time.Millisecond), restored)
	y.stop()
}
