package s3

// SetMaxHeld lowers how many entries a listing of st holds back before it
// looks a directory up (the lookup path, without thousands of objects).
func SetMaxHeld(st *Store, n int) { st.maxHeld = n }

// UploadBuffer is the capacity of an upload's buffer: what it holds of
// the file, at most a part.
func UploadBuffer(w any) int { return cap(w.(*upload).buf) }
