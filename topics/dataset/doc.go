// Package dataset parses the public session datasets in shared/data into one
// common in-memory form: a [Dataset] of time-ordered [Session]s of click and
// purchase [Event]s, split into train and test, with the catalogue features
// ([Item]) each source provides.
//
// Parsing is pure: every ParseXxx function reads an [io.Reader] and never
// touches the file system. [Load] is the convenience that opens the files of
// a named dataset under a data directory and applies the split the
// evaluation protocol (shared/BASELINES.md) prescribes.
//
// The sources, and the choices made for each:
//
//   - yoochoose (RecSys Challenge 2015, session-rec's 100k slice): clicks
//     only, a fixed time split shipped as separate files. Events are ordered
//     by Time within a session (stable for equal times).
//   - diginetica-seq (DynamicRec's preprocessed Diginetica): one session per
//     line, item ids only, no times. Lines keep their file order; the first
//     90% of lines (rounded down) are train, the rest test. Events get
//     synthetic increasing times and [Dataset.HasTime] is false.
//   - diginetica (CIKM Cup 2016 sample): item views plus the purchases that
//     fall in the sampled sessions, with the item-to-category map.
//   - rees46 (first minutes of the REES46 November 2019 log): views, cart
//     adds and purchases, with category, brand and price per item.
//   - rees46-cosmetics (the REES46 cosmetics shop, December 2019: the first
//     eight hours and the last half hour): the same columns and choices as
//     rees46, in a file with a header line.
//
// Datasets without a fixed split (diginetica, rees46, rees46-cosmetics) are
// split by time: sessions are sorted by their first event, and the last 10%
// by count are the test set (see [SplitTail]).
package dataset
