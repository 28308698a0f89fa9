package processor

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionrec/sessionrec/topics"
)

// Metrics are the processor's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	events       *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	closed       prometheus.Counter
	published    prometheus.Counter
	latency      prometheus.Histogram
	batchTime    prometheus.Histogram
	commit       prometheus.Histogram
	noModelCount prometheus.Counter
	watermark    *prometheus.GaugeVec
	restarts     prometheus.Counter
	lost         *prometheus.CounterVec
	mergeSkips   *prometheus.CounterVec
	sessionsOpen *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
	requests     *prometheus.CounterVec
	requestTime  *prometheus.HistogramVec
	modelInfo    *prometheus.GaugeVec
	modelLoaded  prometheus.Gauge
	catalogItems prometheus.Gauge
	coldItems    prometheus.Counter
	rollouts     prometheus.Counter
	rolling      prometheus.Gauge
	rolloutTime  prometheus.Histogram
	rejected     *prometheus.CounterVec
	cut          prometheus.Counter
	storeErrors  *prometheus.CounterVec
	brokerErrors *prometheus.CounterVec
	brokerUp     prometheus.Gauge
	unwritable   *prometheus.CounterVec
	restoreTime  prometheus.Histogram
	restoredRecs prometheus.Counter
	restoredSize prometheus.Counter
	restoring    prometheus.Gauge
	fenced       prometheus.Counter
	changelogPut prometheus.Histogram
	standbys     prometheus.Gauge
	streams      prometheus.Gauge
	streamDrops  prometheus.Counter
	abFallbacks  *prometheus.CounterVec
	erased       prometheus.Counter
	exposed      *prometheus.CounterVec
	followed     *prometheus.CounterVec
	revenue      *prometheus.CounterVec
	eligible     *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_events_total", Help: "Input records by topic and result (applied, duplicate, dead_letter).",
		}, []string{"topic", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_dead_letters_total", Help: "Input records sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		closed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_sessions_closed_total", Help: "Sessions closed by the watermark.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_recommendations_published_total", Help: "Recommendation records published.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_event_to_publish_seconds", Help: "Per published record: from the time of the event that triggered it to the brokers' acknowledgement of the record (a replay of old events shows their age).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_batch_seconds", Help: "Per poll batch: from reading it to its records acknowledged and its state committed.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_batch_commit_seconds", Help: "Time to commit a poll batch to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		noModelCount: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_batches_without_model_total", Help: "Poll batches handled with no model loaded: state kept, nothing published.",
		}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sessionrec_watermark_seconds", Help: "Event-time watermark of each owned partition, Unix seconds.",
		}, []string{"partition"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_reader_restarts_total", Help: "Partition readers reopened after delivering nothing while records waited.",
		}),
		mergeSkips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_merge_skips_total",
			Help: "Times batches went on without an input topic whose records waited on the broker while its reader delivered nothing for InputWait (once until it delivers again), by topic: its records older than the watermark then reached are late.",
		}, []string{"topic"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_records_lost_total", Help: "Input records deleted by the broker's retention before they were read, by topic.",
		}, []string{"topic"}),
		sessionsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sessionrec_sessions_open", Help: "Users with an open session, by owned partition.",
		}, []string{"partition"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sessionrec_lag_records", Help: "Records of an owned input partition not yet applied: its end offset (read through kadm) minus the next offset in the store.",
		}, []string{"topic", "partition"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_http_requests_total", Help: "Query API requests by route and status code.",
		}, []string{"route", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sessionrec_http_request_seconds", Help: "Query API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"route"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sessionrec_model_info", Help: "1 for the model version serving (each arm's with an A/B split), by version; absent when no model is loaded.",
		}, []string{"version"}),
		modelLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_model_loaded_timestamp_seconds", Help: "When the serving model was loaded, Unix seconds.",
		}),
		catalogItems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_catalog_items", Help: "Items in the catalogue (the items topic's, else the model's).",
		}),
		rollouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_model_rollouts_total", Help: "Models from the models topic verified and swapped in.",
		}),
		rolling: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_model_rollout_in_progress", Help: "1 while a model from the models topic is verified and its engine built, else 0.",
		}),
		rolloutTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_model_rollout_seconds", Help: "From a model's manifest to its engine serving: verify, read, encode the catalogue, build the index.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_model_rejected_total", Help: "Models from the models topic refused, by reason; the serving model keeps serving.",
		}, []string{"reason"}),
		coldItems: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_catalog_cold_items_total", Help: "Items embedded from their features as they arrived on the items topic, while a model served.",
		}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_sessions_cut_total", Help: "Sessions closed because they reached --max-session-events; the next event starts a new session.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_store_errors_total", Help: "Errors of the Pebble store, by kind (write: a commit failed; background: a flush, compaction or disk error Pebble reported). The instance stops consuming and exits.",
		}, []string{"kind"}),
		brokerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_broker_errors_total", Help: "Transient broker errors retried with backoff, by operation (read, publish, group, admin).",
		}, []string{"op"}),
		brokerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_broker_reachable", Help: "1 while the brokers answer, 0 while an outage is being ridden through (--broker-timeout).",
		}),
		unwritable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_records_unwritable_total", Help: "Output records the broker refused for good (too large, invalid) even cut down, by topic; each is logged with its source offset and dropped.",
		}, []string{"topic"}),
		restoreTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_restore_seconds", Help: "Per partition taken: from the assignment to its state restored from the changelog (claim, read, index).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		restoredRecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_restored_records_total", Help: "Changelog records applied to the store by restores and standby replicas.",
		}),
		restoredSize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_restored_bytes_total", Help: "Bytes of changelog records (keys and values) applied to the store by restores and standby replicas.",
		}),
		restoring: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_partitions_restoring", Help: "Partitions assigned to this instance whose state is being restored from the changelog; the instance is not ready meanwhile.",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_partitions_fenced_total", Help: "Partitions this instance stopped because a newer owner had claimed their changelog (a stale owner: paused, evicted, or of an old generation).",
		}),
		changelogPut: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sessionrec_changelog_write_seconds", Help: "Per batch: the changelog transaction, from its first record to its commit (the batch's publish happens inside it).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		standbys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_standby_partitions", Help: "Partitions whose changelog this instance follows as a standby replica (--standby).",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sessionrec_stream_clients", Help: "Clients of the live stream (GET /v1/stream) connected.",
		}),
		streamDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_stream_dropped_total", Help: "Live stream clients dropped because their buffer of waiting messages was full (too slow).",
		}),
		abFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_ab_fallback_total", Help: "Rankings (published records and query API answers) of an A/B arm's users by the other arm's model version, while the arm's own is missing from the models topic or was refused, by arm.",
		}, []string{"arm"}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sessionrec_users_erased_total", Help: "Erasure requests applied: users whose state was deleted from the store, with a tombstone on the changelog and the recommendations topic.",
		}),
		exposed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_recommendations_exposed_total", Help: "Recommendation records published, by the model version that made them (attribution's exposures).",
		}, []string{"model_version"}),
		followed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_recommendations_followed_total", Help: "Clicks and purchases of an item recommended to the user within --attribution-window before, by the recommending model version and kind (click, purchase).",
		}, []string{"model_version", "kind"}),
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_recommendations_followed_revenue_total", Help: "Price times quantity of the followed purchases, by model version.",
		}, []string{"model_version"}),
		eligible: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessionrec_attribution_events_total", Help: "Clicks and purchases of users shown recommendations within --attribution-window before, by model version and kind: the follow rates' denominators.",
		}, []string{"model_version", "kind"}),
	}
	reg.MustRegister(m.events, m.deadLetters, m.closed, m.published, m.latency, m.batchTime, m.commit, m.noModelCount, m.watermark, m.restarts, m.lost, m.mergeSkips,
		m.sessionsOpen, m.lag, m.requests, m.requestTime, m.modelInfo, m.modelLoaded, m.catalogItems, m.coldItems,
		m.rollouts, m.rolling, m.rolloutTime, m.rejected, m.cut, m.storeErrors, m.brokerErrors, m.brokerUp, m.unwritable,
		m.restoreTime, m.restoredRecs, m.restoredSize, m.restoring, m.fenced, m.changelogPut, m.standbys,
		m.streams, m.streamDrops, m.abFallbacks, m.erased,
		m.exposed, m.followed, m.revenue, m.eligible)
	m.brokerUp.Set(1)
	return m
}

func (m *Metrics) noModel() {
	if m != nil {
		m.noModelCount.Inc()
	}
}

// batch records a committed poll batch: read at readAt, its records
// acknowledged at acked (when its store commit started), committed to the
// store by done.
func (m *Metrics) batch(partition int32, pd *pending, readAt, acked, done time.Time) {
	if m == nil {
		return
	}
	for tr, n := range pd.stats.results {
		m.events.WithLabelValues(string(tr.topic), tr.result).Add(float64(n))
	}
	for reason, n := range pd.stats.dead {
		m.deadLetters.WithLabelValues(reason).Add(float64(n))
	}
	m.closed.Add(float64(pd.stats.closed))
	m.cut.Add(float64(pd.stats.cut))
	m.published.Add(float64(pd.stats.published))
	m.erased.Add(float64(pd.stats.erased))
	for k, c := range pd.stats.attr {
		if c.exposed > 0 {
			m.exposed.WithLabelValues(k.version).Add(float64(c.exposed))
		}
		for _, kc := range []struct {
			kind          string
			all, followed uint64
		}{{"click", c.clicks, c.clicksFollowed}, {"purchase", c.purchases, c.purchasesFollowed}} {
			if kc.all > 0 {
				m.eligible.WithLabelValues(k.version, kc.kind).Add(float64(kc.all))
				m.followed.WithLabelValues(k.version, kc.kind).Add(float64(kc.followed))
			}
		}
		if c.revenue > 0 {
			m.revenue.WithLabelValues(k.version).Add(c.revenue)
		}
	}
	for _, r := range pd.recs {
		m.latency.Observe(acked.Sub(r.Source.EventTime).Seconds())
	}
	m.batchTime.Observe(done.Sub(readAt).Seconds())
	m.commit.Observe(done.Sub(acked).Seconds())
	m.watermark.WithLabelValues(strconv.Itoa(int(partition))).Set(float64(pd.cp.WatermarkMs) / 1000)
}

// open sets the number of users with an open session in a partition.
func (m *Metrics) open(partition int32, n int) {
	if m != nil {
		m.sessionsOpen.WithLabelValues(strconv.Itoa(int(partition))).Set(float64(n))
	}
}

// lagged sets how many records of a topic's partition wait to be applied.
func (m *Metrics) lagged(topic topics.Topic, partition int32, n int64) {
	if m != nil {
		m.lag.WithLabelValues(string(topic), strconv.Itoa(int(partition))).Set(float64(n))
	}
}

// released drops the gauges of a partition this instance no longer owns.
func (m *Metrics) released(partition int32, names ...topics.Topic) {
	if m == nil {
		return
	}
	p := strconv.Itoa(int(partition))
	m.watermark.DeleteLabelValues(p)
	m.sessionsOpen.DeleteLabelValues(p)
	for _, t := range names {
		m.lag.DeleteLabelValues(string(t), p)
	}
}

func (m *Metrics) readerRestart() {
	if m != nil {
		m.restarts.Inc()
	}
}

// request records a query API request.
func (m *Metrics) request(route string, status int, took time.Duration) {
	if m != nil {
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.requestTime.WithLabelValues(route).Observe(took.Seconds())
	}
}

// model records the engine now serving; nil when none is.
func (m *Metrics) model(e *Engine, at time.Time) {
	if m == nil {
		return
	}
	m.modelInfo.Reset()
	if e == nil {
		m.catalogItems.Set(0)
		return
	}
	for _, x := range e.engines() { // both arms' with an A/B split
		m.modelInfo.WithLabelValues(x.Version()).Set(1)
	}
	m.modelLoaded.Set(float64(at.UnixNano()) / 1e9)
	m.catalogItems.Set(float64(e.catalog.Len()))
}

// catalog sets the catalogue size.
func (m *Metrics) catalog(n int) {
	if m != nil {
		m.catalogItems.Set(float64(n))
	}
}

// coldItem counts an item embedded as it arrived.
func (m *Metrics) coldItem() {
	if m != nil {
		m.coldItems.Inc()
	}
}

// deadLetter counts a dead letter outside a poll batch (the items topic's).
func (m *Metrics) deadLetter(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

// rollout records a model swapped in from the models topic.
func (m *Metrics) rollout(took time.Duration) {
	if m != nil {
		m.rollouts.Inc()
		m.rolloutTime.Observe(took.Seconds())
	}
}

// modelRejected counts a model refused.
func (m *Metrics) modelRejected(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

// rolloutStarted marks a rollout in progress; the function it returns ends
// it.
func (m *Metrics) rolloutStarted() func() {
	if m == nil {
		return func() {}
	}
	m.rolling.Set(1)
	return func() { m.rolling.Set(0) }
}

// mergeSkip counts batches going on without topic's waiting records,
// once until its reader delivers again.
func (m *Metrics) mergeSkip(topic topics.Topic) {
	if m != nil {
		m.mergeSkips.WithLabelValues(string(topic)).Inc()
	}
}

// lostRecords counts input records deleted before they were read.
func (m *Metrics) lostRecords(topic topics.Topic, n int64) {
	if m != nil {
		m.lost.WithLabelValues(string(topic)).Add(float64(n))
	}
}

// StoreError counts an error the store reported (store.Options.OnError),
// by kind.
func (m *Metrics) StoreError(kind string) {
	if m != nil {
		m.storeErrors.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) brokerError(op string) {
	if m != nil {
		m.brokerErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) brokerReachable(up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.brokerUp.Set(v)
	}
}

func (m *Metrics) unwritableRecord(topic topics.Topic) {
	if m != nil {
		m.unwritable.WithLabelValues(string(topic)).Inc()
	}
}

// restored records how long a partition's restore took.
func (m *Metrics) restored(d time.Duration) {
	if m == nil {
		return
	}
	m.restoreTime.Observe(d.Seconds())
}

// applied counts changelog records applied to the store.
func (m *Metrics) appliedChangelog(records, bytes int) {
	if m == nil {
		return
	}
	m.restoredRecs.Add(float64(records))
	m.restoredSize.Add(float64(bytes))
}

// restoringPartitions moves the gauge of partitions being restored by d.
func (m *Metrics) restoringPartitions(d int) {
	if m == nil {
		return
	}
	m.restoring.Add(float64(d))
}

// fencedPartition counts a partition stopped by a newer owner's claim.
func (m *Metrics) fencedPartition() {
	if m == nil {
		return
	}
	m.fenced.Inc()
}

// changelogWrite records a batch's changelog transaction time.
func (m *Metrics) changelogWrite(d time.Duration) {
	if m == nil {
		return
	}
	m.changelogPut.Observe(d.Seconds())
}

// standbyPartitions moves the gauge of standby replicas by d.
func (m *Metrics) standbyPartitions(d int) {
	if m == nil {
		return
	}
	m.standbys.Add(float64(d))
}

// streamClients sets the number of live stream clients.
func (m *Metrics) streamClients(n int) {
	if m != nil {
		m.streams.Set(float64(n))
	}
}

// streamDropped counts a live stream client dropped for being too slow.
func (m *Metrics) streamDropped() {
	if m != nil {
		m.streamDrops.Inc()
	}
}

// abFallback counts a ranking of an A/B arm's user by the other arm's
// model version.
func (m *Metrics) abFallback(arm string) {
	if m != nil {
		m.abFallbacks.WithLabelValues(arm).Inc()
	}
}
