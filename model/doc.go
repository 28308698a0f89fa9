// Package model is sessionrec's pure computation: the item encoder, its
// trainer, the model artefact, similarity search, intent detection and
// ranking. It does no I/O beyond the readers and writers it is handed, reads
// no clock and holds no mutable globals; randomness comes in as seeds.
//
// # Item vectors
//
// An item is known by its features (Item): name, category, brand, price.
// The encoder turns them into a vector of Dims.Total() = 100 elements by
// default, the concatenation of four learned parts:
//
//	name     (32) the mean of the rows of the item's lower-cased name tokens;
//	              an item without a name has its id as its one token, so an
//	              id-only dataset becomes item2vec
//	category (32) the mean of the rows of its category code and the code's
//	              ancestors ("a.b.c", "a.b", "a"), so an unseen subcategory
//	              still lands near its parent
//	brand    (32) the brand's row
//	price     (4) W*z + b for z the normalised log price
//
// Each table has a learned row 0 for "unknown" (an unseen token, category or
// brand, or a missing price). There are two sets of tables over the same
// vocabularies, In and Ctx, as word2vec has input and output vectors. The
// item vector is unit(In(item)) + unit(Ctx(item)): its cosine mixes In·In,
// high for items seen in like company (second order: two phones people
// compare), with In·Ctx, high for items seen together (first order: a phone
// and its case). Adding the context vectors is GloVe's W+C; on both
// evaluation datasets it ranks better than In alone. Because both sets come
// from features, a new item has a vector the moment its features are known
// (cold start).
//
// # Training
//
// Train is skip-gram with negative sampling over sessions. Sessions without
// a purchase (unless KeepAll) or with more than MaxEvents events are dropped.
// Each epoch shuffles the sessions and cuts each at random into contiguous
// parts (a cut before each event with probability 1/PartSize, parts at most
// MaxPart long); every item c of a part is a centre, every other item o of
// the part a context. For the pair, with v = In(c), the loss is
//
//	-log σ(v·Ctx(o)) - Σ_{n ~ U^0.75} log σ(-v·Ctx(n))
//
// weighted by PurchaseWeight when c or o was purchased. Its gradients flow
// through the encoder's adjoint (scatter) into the token, category, brand
// and price parameters of both table sets. The learning rate decays
// linearly. With several workers the parameters are updated without locks
// (Hogwild); with one worker and a seed, training is bit-for-bit
// reproducible.
//
// With NextItem > 0 a next-item objective joins the pairs (with
// NextItemOnly, it replaces them): the mean of a session's items so far is
// trained to point at the item that comes next. For each position t >= 1
// of a kept session (after subsampling), h is the weighted mean of the In
// encodings of the NextItemWindow (10) items before t, the one k steps
// back weighing exp(-k/NextItemDecay); the loss is the sampled softmax
// cross-entropy
//
//	-log softmax_0(h·Ctx(x_t), h·Ctx(n_1), ..., h·Ctx(n_K))
//
// over K = NextItemNegatives (20) negatives drawn once per session from
// U^NegativePower and shared by all its positions (a negative that is the
// target is left out of that position's softmax), times NextItem, and
// PurchaseWeight when x_t was purchased. With NextItemTemperature τ > 0
// the logits are cos(h, Ctx(·))/τ instead, as in CORE. A session is one
// mini-batch: its items' and negatives' encodings are computed once, the
// gradients of all its positions are summed per item (h's into each
// prefix item's In parameters with its weight) and per negative, and each
// sum is scattered once at the end of the session.
//
// Shared rows (categories, brands, price) take an update from most pairs,
// and a centre's gradient sums the pairs of its whole part, so at a rate
// id-only data bears a catalogue with features fed on itself until its
// parameters overflowed. The pair loss is therefore stable by
// construction: every update an encoding takes, a context's gco·v and a
// centre's summed gradient, is scaled down to a norm of at most 1
// (maxStep). Healthy updates are far smaller, so the bound changes nothing
// until a rate is too high; then it keeps each step, and so every
// parameter, finite whatever the rate (even 1e30).
//
// The next-item objective has no such bound. Should a parameter become
// NaN or infinite all the same, each worker sees it in its last centre
// vector and gradient (and its last next-item prefix mean and gradient)
// after every session and all stop at the first non-finite one; Train then
// starts again from scratch, with the same seed and half the rate, up to
// MaxRetries (4) times, and reports each retry to TrainConfig.Retried.
//
// # Intents
//
// IntentDetector takes the last Window (10) distinct items of a session and
// groups them into at most MaxIntents (3) intents. For unit vectors x_i and
// a group g with sum S_g = Σ_{i∈g} x_i, the cosine of member i to the
// group's centroid S_g/|S_g| summed over the members is |S_g|, so
//
//	score(grouping) = Σ_g |S_g| - SplitPenalty·(groups-1)
//
// is the total cosine of items to their own intent's centroid, less a price
// for each intent beyond the first: a split must buy more coherence than it
// costs. |S_g|² = Σ_{i,j∈g} G_ij for the Gram matrix G of the window, so the
// detector computes G once (W² dot products) and searches the groupings
// exhaustively: depth first over restricted growth strings (item i joins an
// intent opened by an earlier item or opens the next), updating |S_g|² by
// 1 + 2Σ_{j∈g} G_ij per step, and cutting a branch when adding 1 per
// remaining item (the most the triangle inequality allows) cannot beat the
// best grouping found. Ties keep the earlier grouping, so detection is
// deterministic. For W = 10 and at most 3 intents there are 9,842
// groupings; the cut visits far fewer.
//
// The coherence of an intent is |S_g|/n_g, its members' mean cosine to the
// mean of the group. The centroid the ranker searches from weighs the
// members by recency within the intent (the latest 1, the one before
// CentroidRecency, ...), so that it points where the intent is going. Its
// weight is the recency-weighted share of its members (the
// latest item weighs 1, the one before Recency, then Recency² ...), so the
// intent holding the latest item, the current one, usually weighs most. An
// intent whose centroid is within Resume of an intent kept from a past
// session takes that intent's ID: the user came back to it.
//
// # Ranking
//
// Catalog.Rank asks the index, for each intent, heaviest first, for the
// items closest to its centroid; an item's relevance is max over intents of
// weight × cosine, credited to that intent, whichever search found it.
// Without diversity, an intent that weighs less than the K-th relevance
// found so far cannot place an item in the first K, and its search (with
// those of the lighter intents) is skipped. Past sessions' intents enter with History times
// their weight, halved every HalfLife since last seen; all weights are then
// scaled to sum 1. With Diversity d > 0 the K items are picked by maximal
// marginal relevance, each next one maximising (1-d)·relevance/best -
// d·(highest cosine to the items picked). Filters (category subtree, brand,
// price range, excluded ids) are applied inside the index search, so K
// items come back whenever K items pass. The diversity step costs K ×
// max(3K, K+20) cosines per intent (RankOptions.Work): it scores the
// candidates left, their vectors copied together, against each pick.
//
// The neighbourhood term (Neighbours) adds what the vectors cannot see:
// what sessions like this one went on to. The model carries the most
// recent of its training sessions (SessionLog); for the session's items
// (RankOptions.Recent), the K most similar of the most recent sessions
// that share an item vote for their items, with STAN's sequence weights.
// With weight w = RankOptions.Neighbours, an item whose best weight ×
// cosine is v (best over the candidates: top) and whose votes are n of the
// best item's scores
//
//	(1-w)·exp((v-top)/0.05) + w·n
//
// so both evidences run from 0 to 1 for the best item. The items the
// neighbours vote for join the candidates; each is credited to the intent
// it is closest to, and every Recommendation says both evidences (Vector,
// Neighbours), so a record shows why an item ranked.
//
// A ranking takes a view of the catalogue under its lock (slice headers:
// rows are never changed once written, and the slices only grow) and
// scores without the lock, so Put and Remove never wait for a ranking in
// progress. RankContext stops a ranking between intents and picks when its
// context ends.
//
// # Search
//
// Index is the small interface search sits behind. ExactIndex scans every
// row with an AVX2+FMA kernel; IVFIndex clusters the rows by spherical
// k-means and scans only the lists whose centroids are closest to the
// query, falling back to further lists until K accepted rows are found.
// IVFIndex scans its rows stored in half precision (half the memory
// traffic, with an AVX2+F16C kernel) and re-scores the best few more than K
// in float32, so the scores it returns are exact.
package model
