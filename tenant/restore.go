package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Restore copies the backup in fromDir (made by Backup) into dataDir, so
// that a server started on dataDir answers as the backed-up one did
// (sessions included: they live in routing.db).
//
// dataDir must be missing (it is made 0700) or empty. Empty here allows
// what the restore command and a checkout bring along: a .lock file (the
// caller should hold the data directory's lock while restoring), a .gitkeep
// file, and tenants/, tmp/ and orphans/ folders with no files in them.
//
// Before writing anything Restore checks the size and sha256 of every file
// the manifest lists; a missing or damaged file is ErrBadBackup and
// nothing is written. Each file is then copied to tmp/, checked again,
// flushed and renamed into place (0600, in 0700 folders), tenants first and
// routing.db last; if any step fails, every file and folder Restore made is
// removed. progress, if not nil, is called after each file is verified and
// again after it is copied, so total is twice the number of files.
//
// Tenants the backup could not copy (Manifest.Missing) keep their rows and
// are reported by Check and served as unavailable; provisioning rows were
// left out of the backup.
func Restore(ctx context.Context, fromDir, dataDir string, progress func(done, total int)) (Manifest, error) {
	if err := checkRestorePaths(fromDir, dataDir); err != nil {
		return Manifest{}, err
	}
	m, err := ReadManifest(fromDir)
	if err != nil {
		return Manifest{}, err
	}
	if err := checkRestoreTarget(dataDir); err != nil {
		return m, err
	}
	files := m.files()
	tick := func(done int) {
		if progress != nil {
			progress(done, 2*len(files))
		}
	}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		if err := verifyFile(fromDir, f); err != nil {
			return m, err
		}
		tick(i + 1)
	}
	r := &restoreRun{from: fromDir, to: dataDir}
	if err := r.copyAll(ctx, files, func(i int) { tick(len(files) + i + 1) }); err != nil {
		return m, errors.Join(err, r.undo())
	}
	return m, nil
}

// verifyFile checks one backup file against its manifest entry.
func verifyFile(root string, f ManifestFile) error {
	n, sum, err := sumFile(filepath.Join(root, filepath.FromSlash(f.Path)))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is missing", ErrBadBackup, f.Path)
	}
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrBadBackup, f.Path, err)
	}
	if n != f.Size || sum != f.SHA256 {
		return fmt.Errorf("%w: %s does not match the manifest (size %d, want %d; sha256 %s, want %s)",
			ErrBadBackup, f.Path, n, f.Size, sum, f.SHA256)
	}
	return nil
}

// checkRestorePaths refuses a data folder that is the backup folder or lies
// inside it (the restore would be written into the backup it reads) and a
// backup folder inside the data folder, which the restore would write
// over; symbolic links are followed as the system follows them (see
// Backup's own check).
func checkRestorePaths(from, data string) error {
	inside, err := sameOrInside(data, from)
	if err != nil {
		return fmt.Errorf("resolve data directory: %w", err)
	}
	if inside {
		return fmt.Errorf("data directory %s is or lies inside the backup folder %s; restore into a folder outside it", data, from)
	}
	if inside, err = sameOrInside(from, data); err != nil {
		return fmt.Errorf("resolve backup folder: %w", err)
	}
	if inside {
		return fmt.Errorf("backup folder %s lies inside the data directory %s, which the restore would write over; move it out first", from, data)
	}
	return nil
}

// checkRestoreTarget refuses a data directory that holds anything but what
// Restore tolerates (see Restore).
func checkRestoreTarget(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read data folder: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case (name == ".lock" || name == ".gitkeep") && e.Type().IsRegular():
			continue
		case (name == "tenants" || name == "tmp" || name == "orphans") && e.IsDir():
			file, err := firstFile(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			if file == "" {
				continue
			}
			name = file
		}
		return fmt.Errorf("%w: data folder %s holds %s; restore only into an empty or missing one", ErrNotEmpty, dir, name)
	}
	return nil
}

// firstFile returns the first thing below dir that is not a folder, as a
// path relative to dir's parent, or "" if there is none.
func firstFile(dir string) (string, error) {
	var found string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			found, _ = filepath.Rel(filepath.Dir(dir), path)
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read data folder: %w", err)
	}
	return found, nil
}

// restoreRun is one Restore in progress; made lists what it created, in
// order, so that undo can take it all back.
type restoreRun struct {
	from, to string
	made     []string
}

func (r *restoreRun) copyAll(ctx context.Context, files []ManifestFile, tick func(i int)) error {
	if _, err := os.Stat(r.to); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(r.to), 0o700); err != nil {
			return fmt.Errorf("make data folder: %w", err)
		}
	}
	for _, sub := range []string{"", "tenants", "tmp", "orphans"} {
		if err := r.mkdir(filepath.Join(r.to, sub)); err != nil {
			return err
		}
	}
	dirs := map[string]bool{r.to: true, filepath.Join(r.to, "tenants"): true}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst, err := r.copyFile(f)
		if err != nil {
			return err
		}
		dirs[filepath.Dir(dst)] = true
		tick(i)
	}
	for dir := range dirs {
		if err := SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// mkdir makes a 0700 folder unless it is already there.
func (r *restoreRun) mkdir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("make folder: %w", err)
	}
	r.made = append(r.made, dir)
	return nil
}

// copyFile copies one backup file to tmp/, checks its sum again (the
// backup could change after it was verified), and renames it into place.
func (r *restoreRun) copyFile(f ManifestFile) (dst string, err error) {
	dst = filepath.Join(r.to, filepath.FromSlash(f.Path))
	if err := r.mkdir(filepath.Dir(dst)); err != nil {
		return "", err
	}
	tmp := filepath.Join(r.to, "tmp", "restore-"+newID()+".db")
	sum, err := copyHashed(filepath.Join(r.from, filepath.FromSlash(f.Path)), tmp)
	if err != nil {
		return "", errors.Join(fmt.Errorf("copy %s: %w", f.Path, err), removeFiles(tmp))
	}
	if sum != f.SHA256 {
		return "", errors.Join(fmt.Errorf("%w: %s changed while it was being restored", ErrBadBackup, f.Path), removeFiles(tmp))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", errors.Join(fmt.Errorf("move %s into place: %w", f.Path, err), removeFiles(tmp))
	}
	r.made = append(r.made, dst)
	return dst, nil
}

// copyHashed copies src to dst, a new 0600 file flushed to disk, and
// returns the hex sha256 of what it wrote.
func copyHashed(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// undo removes what the restore made, newest first.
func (r *restoreRun) undo() error {
	var errs []error
	for i := len(r.made) - 1; i >= 0; i-- {
		if err := os.Remove(r.made[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove partial restore: %w", errors.Join(errs...))
	}
	return nil
}
