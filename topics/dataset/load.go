package dataset

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dataset names accepted by [Load].
const (
	// Yoochoose is session-rec's 100k YOOCHOOSE slice: train_full / test.
	Yoochoose = "yoochoose"
	// YoochooseValid splits Yoochoose's train side for tuning:
	// train_tr / train_valid.
	YoochooseValid = "yoochoose-valid"
	// DigineticaSeq is DynamicRec's Diginetica sequences: the first 90% of
	// lines train, the rest test.
	DigineticaSeq = "diginetica-seq"
	// DigineticaSeqValid splits DigineticaSeq's train side again, 90/10,
	// for tuning.
	DigineticaSeqValid = "diginetica-seq-valid"
	// Diginetica is the CIKM Cup sample of views with purchases and
	// categories, split by time 90/10.
	Diginetica = "diginetica"
	// REES46 is the first minutes of the REES46 November 2019 log, split
	// by time 90/10.
	REES46 = "rees46"
	// REES46Cosmetics is two contiguous blocks of the REES46 cosmetics
	// shop's December 2019 log, with purchases, split by time 90/10.
	REES46Cosmetics = "rees46-cosmetics"
)

// File names under the data directory, slash-separated and relative to it.
const (
	// YoochooseTrainFullFile is the yoochoose train side.
	YoochooseTrainFullFile = "yoochoose/yoochoose-clicks-100k_train_full.txt"
	// YoochooseTestFile is the yoochoose test side (the day after).
	YoochooseTestFile = "yoochoose/yoochoose-clicks-100k_test.txt"
	// YoochooseTrainTrFile is the train side of yoochoose-valid.
	YoochooseTrainTrFile = "yoochoose/yoochoose-clicks-100k_train_tr.txt"
	// YoochooseTrainValidFile is the test side of yoochoose-valid.
	YoochooseTrainValidFile = "yoochoose/yoochoose-clicks-100k_train_valid.txt"
	// DigineticaSeqFile holds DynamicRec's Diginetica sequences.
	DigineticaSeqFile = "diginetica/dynamicrec_diginetica_sequences.csv"
	// DigineticaViewsFile holds the sampled Diginetica item views.
	DigineticaViewsFile = "diginetica/sample_train-item-views.csv"
	// DigineticaPurchasesFile holds the full Diginetica purchase log.
	DigineticaPurchasesFile = "diginetica/train-purchases.csv"
	// DigineticaCategoriesFile maps Diginetica items to categories.
	DigineticaCategoriesFile = "diginetica/product-categories.csv"
	// REES46File holds the first 683 events of REES46 November 2019.
	REES46File = "rees46/2019-Nov.head.csv"
	// REES46CosmeticsFile holds 20,286 events of the REES46 cosmetics
	// shop, December 2019, with a header line.
	REES46CosmeticsFile = "rees46/cosmetics-2019-Dec.csv"
)

// TestPercent is the share of sessions, in percent, that [Load] puts on
// the test side of the datasets it splits itself.
const TestPercent = 10

// Names returns the dataset names [Load] accepts. The slice is newly
// allocated.
func Names() []string {
	return []string{Yoochoose, YoochooseValid, DigineticaSeq, DigineticaSeqValid, Diginetica, REES46, REES46Cosmetics}
}

// Load reads the named dataset (one of [Names]) from the data directory dir
// (the shared/data folder, laid out as in its README) and splits it.
//
// A missing file is an error naming its path (wrapping [fs.ErrNotExist]); a
// malformed line is a *[ParseError] naming the file's path and the line. An unknown name wraps
// [ErrUnknownDataset].
func Load(dir, name string) (*Dataset, error) {
	d := &Dataset{Name: name, Items: make(map[string]Item), HasTime: true}
	var err error
	switch name {
	case Yoochoose, YoochooseValid:
		trainFile, testFile := YoochooseTrainFullFile, YoochooseTestFile
		if name == YoochooseValid {
			trainFile, testFile = YoochooseTrainTrFile, YoochooseTrainValidFile
		}
		if d.Train, err = parseFile(dir, trainFile, ParseYoochoose); err != nil {
			break
		}
		d.Test, err = parseFile(dir, testFile, ParseYoochoose)
	case DigineticaSeq, DigineticaSeqValid:
		var all []Session
		if all, err = parseFile(dir, DigineticaSeqFile, ParseSequences); err != nil {
			break
		}
		d.HasTime = false
		d.Train, d.Test = SplitTail(all, TestPercent)
		if name == DigineticaSeqValid {
			d.Train, d.Test = SplitTail(d.Train, TestPercent)
		}
	case Diginetica:
		err = loadDiginetica(dir, d)
	case REES46:
		err = loadREES46(dir, REES46File, d)
	case REES46Cosmetics:
		err = loadREES46(dir, REES46CosmeticsFile, d)
	default:
		return nil, fmt.Errorf("%w: %q (want one of %q)", ErrUnknownDataset, name, Names())
	}
	if err != nil {
		if _, ok := errors.AsType[*ParseError](err); ok {
			return nil, err // already "dataset: PATH:LINE: ..."
		}
		return nil, fmt.Errorf("dataset: load %s: %w", name, err)
	}
	return d, nil
}

// parseFile opens dir/file and parses it with parse, naming the path in
// errors.
func parseFile[T any](dir, file string, parse func(io.Reader) (T, error)) (T, error) {
	path := filepath.Join(dir, filepath.FromSlash(file))
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err // *fs.PathError names the path
	}
	defer f.Close() //nolint:errcheck // read-only: Close reports nothing useful
	v, err := parse(f)
	return v, withFile(err, path)
}

func loadDiginetica(dir string, d *Dataset) error {
	var files [3]*os.File
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close() //nolint:errcheck // read-only
			}
		}
	}()
	names := [3]string{DigineticaViewsFile, DigineticaPurchasesFile, DigineticaCategoriesFile}
	for i, name := range names {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		files[i] = f
	}
	sessions, items, err := ParseDiginetica(files[0], files[1], files[2])
	if err != nil {
		// ParseDiginetica names the file relative to dir; make it a path.
		if pe, ok := errors.AsType[*ParseError](err); ok {
			pe.File = filepath.Join(dir, filepath.FromSlash(pe.File))
		}
		return err
	}
	d.Train, d.Test = SplitTail(sessions, TestPercent)
	d.Items = items
	return nil
}

// loadREES46 parses the REES46 log file under dir and splits it by time.
func loadREES46(dir, file string, d *Dataset) error {
	type parsed struct {
		sessions []Session
		items    map[string]Item
	}
	p, err := parseFile(dir, file, func(r io.Reader) (parsed, error) {
		s, it, err := ParseREES46(r)
		return parsed{s, it}, err
	})
	if err != nil {
		return err
	}
	d.Train, d.Test = SplitTail(p.sessions, TestPercent)
	d.Items = p.items
	return nil
}

// FindDataDir looks for the shared data directory: starting at start and
// walking up to the file system root, it returns the first DIR/shared/data
// that is a directory. From a package directory inside the repository this
// finds the shared/data folder next to the repository root.
func FindDataDir(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("dataset: find data dir: %w", err)
	}
	for {
		cand := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
			return cand, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("dataset: find data dir: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("dataset: find data dir: no shared/data above %s: %w", start, fs.ErrNotExist)
		}
		dir = parent
	}
}

// DataDirEnv is the environment variable that names the data directory.
const DataDirEnv = "SESSIONREC_DATA"

// DataDir returns the data directory: $SESSIONREC_DATA when set (it must be
// a directory), else the shared/data folder FindDataDir finds above the
// working directory. The error says how to provide the data.
func DataDir() (string, error) {
	if dir := os.Getenv(DataDirEnv); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("dataset: %s=%q is not a directory", DataDirEnv, dir)
		}
		return dir, nil
	}
	dir, err := FindDataDir(".")
	if err != nil {
		return "", fmt.Errorf("%w; set %s or put the data at ../shared/data next to the repository root", err, DataDirEnv)
	}
	return dir, nil
}
