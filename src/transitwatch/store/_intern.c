/*
 * transitwatch C core of the columnar ingest (transitwatch/store/intervals.py): a batch of
 * observations as packed columns, with route keys and AS paths interned in C hash tables.
 *
 * Why C: a full table has a million distinct route keys and a hundred thousand AS paths. Interning
 * them through Python dicts costs a str copy, an int and a dict entry per key (~120 bytes and
 * ~0.6 us); here a key is its bytes in an arena plus ~20 bytes of table, and a new key's store id
 * (the low 64 bits of the MD5 of its text, db.stable_id) and, for an AS path of plain ASNs, its
 * origin and sorted distinct ASNs are worked out in the same pass, so no database round trip and
 * no Python object per key is needed. New keys come back as Arrow-ready buffers (int32 offsets and
 * UTF-8 bytes), which pyarrow wraps without copying.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* ---- MD5 (RFC 1321): db.stable_id is the low 64 bits (first 8 digest bytes, little-endian) ---- */

static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t MD5_R[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void md5_block(uint32_t h[4], const uint8_t *p) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16
               | (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) { f = (b & c) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
        else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
        else { f = c ^ (b | ~d); g = (7 * i) & 15; }
        uint32_t t = d, x = a + f + MD5_K[i] + w[g];
        d = c;
        c = b;
        b = b + ((x << MD5_R[i]) | (x >> (32 - MD5_R[i])));
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

/* Many short texts at once: MD5 of LANES one-block messages (texts of at most 55 bytes: every
 * prefix, most AS paths) in lockstep, one per vector lane (GCC vector extensions: SSE2/NEON code
 * on any build, no intrinsics), rounds unrolled with constant rotations. A full table's million
 * new route keys took ~0.09 s one at a time; this is several times less. */
#define LANES 8
#define MD5_SHORT 55
typedef uint32_t v32 __attribute__((vector_size(4 * LANES)));

#define ROTV(x, r) (((x) << (r)) | ((x) >> (32 - (r))))
#define STEPV(F, a, b, c, d, k, s, i) do { a += F(b, c, d) + MD5_K[i] + w[k]; a = b + ROTV(a, s); } while (0)
#define FV(b, c, d) (((b) & (c)) | (~(b) & (d)))
#define GV(b, c, d) (((d) & (b)) | (~(d) & (c)))
#define HV(b, c, d) ((b) ^ (c) ^ (d))
#define IV(b, c, d) ((c) ^ ((b) | ~(d)))

/* ids[j] = the low 64 bits of the MD5 of text j, for `count` <= LANES texts of <= 55 bytes. */
static void md5_lanes(const uint8_t *const *texts, const size_t *lens, int count, uint64_t *ids) {
    v32 w[16];
    for (int k = 0; k < 16; k++) w[k] = (v32){0};
    for (int l = 0; l < count; l++) {
        uint8_t block[64] = {0};
        memcpy(block, texts[l], lens[l]);
        block[lens[l]] = 0x80;
        uint64_t bits = (uint64_t)lens[l] * 8;
        for (int k = 0; k < 8; k++) block[56 + k] = (uint8_t)(bits >> (8 * k));
        for (int k = 0; k < 16; k++)
            w[k][l] = (uint32_t)block[4 * k] | (uint32_t)block[4 * k + 1] << 8
                      | (uint32_t)block[4 * k + 2] << 16 | (uint32_t)block[4 * k + 3] << 24;
    }
    v32 a = (v32){0} + 0x67452301u, b = (v32){0} + 0xefcdab89u, c = (v32){0} + 0x98badcfeu,
        d = (v32){0} + 0x10325476u;
    v32 a0 = a, b0 = b, c0 = c, d0 = d;
    STEPV(FV, a, b, c, d, 0, 7, 0);   STEPV(FV, d, a, b, c, 1, 12, 1);
    STEPV(FV, c, d, a, b, 2, 17, 2);  STEPV(FV, b, c, d, a, 3, 22, 3);
    STEPV(FV, a, b, c, d, 4, 7, 4);   STEPV(FV, d, a, b, c, 5, 12, 5);
    STEPV(FV, c, d, a, b, 6, 17, 6);  STEPV(FV, b, c, d, a, 7, 22, 7);
    STEPV(FV, a, b, c, d, 8, 7, 8);   STEPV(FV, d, a, b, c, 9, 12, 9);
    STEPV(FV, c, d, a, b, 10, 17, 10); STEPV(FV, b, c, d, a, 11, 22, 11);
    STEPV(FV, a, b, c, d, 12, 7, 12); STEPV(FV, d, a, b, c, 13, 12, 13);
    STEPV(FV, c, d, a, b, 14, 17, 14); STEPV(FV, b, c, d, a, 15, 22, 15);
    STEPV(GV, a, b, c, d, 1, 5, 16);  STEPV(GV, d, a, b, c, 6, 9, 17);
    STEPV(GV, c, d, a, b, 11, 14, 18); STEPV(GV, b, c, d, a, 0, 20, 19);
    STEPV(GV, a, b, c, d, 5, 5, 20);  STEPV(GV, d, a, b, c, 10, 9, 21);
    STEPV(GV, c, d, a, b, 15, 14, 22); STEPV(GV, b, c, d, a, 4, 20, 23);
    STEPV(GV, a, b, c, d, 9, 5, 24);  STEPV(GV, d, a, b, c, 14, 9, 25);
    STEPV(GV, c, d, a, b, 3, 14, 26); STEPV(GV, b, c, d, a, 8, 20, 27);
    STEPV(GV, a, b, c, d, 13, 5, 28); STEPV(GV, d, a, b, c, 2, 9, 29);
    STEPV(GV, c, d, a, b, 7, 14, 30); STEPV(GV, b, c, d, a, 12, 20, 31);
    STEPV(HV, a, b, c, d, 5, 4, 32);  STEPV(HV, d, a, b, c, 8, 11, 33);
    STEPV(HV, c, d, a, b, 11, 16, 34); STEPV(HV, b, c, d, a, 14, 23, 35);
    STEPV(HV, a, b, c, d, 1, 4, 36);  STEPV(HV, d, a, b, c, 4, 11, 37);
    STEPV(HV, c, d, a, b, 7, 16, 38); STEPV(HV, b, c, d, a, 10, 23, 39);
    STEPV(HV, a, b, c, d, 13, 4, 40); STEPV(HV, d, a, b, c, 0, 11, 41);
    STEPV(HV, c, d, a, b, 3, 16, 42); STEPV(HV, b, c, d, a, 6, 23, 43);
    STEPV(HV, a, b, c, d, 9, 4, 44);  STEPV(HV, d, a, b, c, 12, 11, 45);
    STEPV(HV, c, d, a, b, 15, 16, 46); STEPV(HV, b, c, d, a, 2, 23, 47);
    STEPV(IV, a, b, c, d, 0, 6, 48);  STEPV(IV, d, a, b, c, 7, 10, 49);
    STEPV(IV, c, d, a, b, 14, 15, 50); STEPV(IV, b, c, d, a, 5, 21, 51);
    STEPV(IV, a, b, c, d, 12, 6, 52); STEPV(IV, d, a, b, c, 3, 10, 53);
    STEPV(IV, c, d, a, b, 10, 15, 54); STEPV(IV, b, c, d, a, 1, 21, 55);
    STEPV(IV, a, b, c, d, 8, 6, 56);  STEPV(IV, d, a, b, c, 15, 10, 57);
    STEPV(IV, c, d, a, b, 6, 15, 58); STEPV(IV, b, c, d, a, 13, 21, 59);
    STEPV(IV, a, b, c, d, 4, 6, 60);  STEPV(IV, d, a, b, c, 11, 10, 61);
    STEPV(IV, c, d, a, b, 2, 15, 62); STEPV(IV, b, c, d, a, 9, 21, 63);
    a += a0;
    b += b0;
    for (int l = 0; l < count; l++) ids[l] = (uint64_t)a[l] | (uint64_t)b[l] << 32;
}

static uint64_t md5_low64(const uint8_t *p, size_t n) {
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) md5_block(h, p + i);
    uint8_t tail[128];
    size_t rem = n - i, total = rem + 9 <= 64 ? 64 : 128;
    memcpy(tail, p + i, rem);
    tail[rem] = 0x80;
    memset(tail + rem + 1, 0, total - rem - 1);
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) tail[total - 8 + k] = (uint8_t)(bits >> (8 * k));
    md5_block(h, tail);
    if (total == 128) md5_block(h, tail + 64);
    return (uint64_t)h[0] | (uint64_t)h[1] << 32;
}

/* Texts' ids gathered LANES at a time: md5_add each text with where its id goes, md5_flush at the
 * end. Long texts are hashed at once. */
typedef struct {
    const uint8_t *text[LANES];
    size_t len[LANES];
    uint64_t *out[LANES];
    int k;
} md5_batch;

static void md5_flush(md5_batch *b) {
    uint64_t id[LANES];
    if (!b->k) return;
    md5_lanes(b->text, b->len, b->k, id);
    for (int l = 0; l < b->k; l++) *b->out[l] = id[l];
    b->k = 0;
}

static void md5_add(md5_batch *b, const uint8_t *text, size_t len, uint64_t *out) {
    if (len > MD5_SHORT) {
        *out = md5_low64(text, len);
        return;
    }
    b->text[b->k] = text;
    b->len[b->k] = len;
    b->out[b->k] = out;
    if (++b->k == LANES) md5_flush(b);
}

/* ids[i] = md5_low64 of text i of an Arrow-layout list (int32 offsets). Touches no Python object
 * (callers may release the GIL around it). */
static void md5_many(const int32_t *off, const uint8_t *text, size_t n, uint64_t *ids) {
    md5_batch b = {.k = 0};
    for (size_t i = 0; i < n; i++) md5_add(&b, text + off[i], (size_t)(off[i + 1] - off[i]), &ids[i]);
    md5_flush(&b);
}

/* ---- errors where the GIL may be released -------------------------------------------------------
 * columns_raw() interns a batch's route keys without the GIL (the decoder of the next batch runs
 * meanwhile). Memory comes from PyMem_Raw* (thread-safe without the GIL) and an error met there
 * is kept in `deferred` and raised once the GIL is taken again. */
typedef struct { int set; PyObject *type; const char *msg; } deferred_t;
static _Thread_local deferred_t *deferred;

static void fail(PyObject *type, const char *msg) {
    if (!deferred) { if (type) PyErr_SetString(type, msg); else PyErr_NoMemory(); return; }
    if (!deferred->set) { deferred->set = 1; deferred->type = type; deferred->msg = msg; }
}

static void fail_nomem(void) { fail(NULL, "out of memory"); }

static void raise_deferred(const deferred_t *e) {
    if (!e->set) return;
    if (e->type) PyErr_SetString(e->type, e->msg); else PyErr_NoMemory();
}

/* ---- growable byte buffers ---------------------------------------------------------------------- */

typedef struct { uint8_t *p; size_t n, cap; } buf_t;

static int buf_reserve(buf_t *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    uint8_t *p = PyMem_RawRealloc(b->p, cap);
    if (!p) { fail_nomem(); return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(buf_t *b, const void *src, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
    return 0;
}

static void buf_free(buf_t *b) { PyMem_RawFree(b->p); b->p = NULL; b->n = b->cap = 0; }

static PyObject *buf_bytes(buf_t *b) {
    return PyBytes_FromStringAndSize(b->p ? (const char *)b->p : "", (Py_ssize_t)b->n);
}

/* ---- Interner: an open-addressing hash table of byte strings -> codes 0, 1, 2, ... -------------- */

typedef struct {
    PyObject_HEAD
    int parse;                       /* AS paths: new texts are parsed (origin, ASNs) */
    int sealed;                      /* seal() freed the index: no lookups any more */
    buf_t arena;                     /* key bytes, one after another in code order */
    uint64_t *off;                   /* n + 1 entries: code c is arena[off[c], off[c + 1]) */
    size_t n, cap;
    /* per slot: code + 1 in the low 32 bits (0: empty), the hash's high 32 bits above, so that a
     * probe past another key does not read that key's bytes (a cache miss each); a power of two
     * slots, at most 70% full. 8 bytes of offset and ~11 of slots a key, besides its bytes. */
    uint64_t *slots;
    size_t nslots;
} InternerObject;

/* What a pass added: texts (Arrow string layout), store ids and, per kind, ADD-PATH ids or the
 * parse of a path (slow 1: not plain ASNs, left to the Python parser). */
typedef struct {
    size_t count;
    buf_t text_off, text, ids, path_ids, slow, origin, asn_off, asn;
    buf_t scratch;                   /* parsing: the ASNs of one path */
    int ids_done;                    /* ids already worked out (added_ids) */
} added_t;

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    return h;
}

/* The slot where a key's probe starts: from the high 32 bits of its hash (a table has fewer than
 * 2**32 slots: codes are below 2**31 and at most 70% of the slots are used). */
static inline size_t home_slot(uint64_t h, size_t mask) { return (size_t)(h >> 32) & mask; }

/* Room for `extra` more keys without a rehash: a batch's keys may all be new (a table dump), and
 * one rehash to the final size beats a chain of doublings, each rehashing every key before it. */
static int tab_grow_to(InternerObject *t, size_t nslots);

static int tab_reserve(InternerObject *t, size_t extra) {
    if (t->sealed) return 0;
    size_t want = t->nslots ? t->nslots : 1024;
    while ((t->n + extra + 1) * 10 > want * 7) want *= 2;
    return want > t->nslots ? tab_grow_to(t, want) : 0;
}

static int tab_grow(InternerObject *t) { return tab_grow_to(t, t->nslots ? t->nslots * 2 : 1024); }

static int tab_grow_to(InternerObject *t, size_t nslots) {
    uint64_t *slots = PyMem_RawCalloc(nslots, sizeof(uint64_t));
    if (!slots) { fail_nomem(); return -1; }
    /* a key's home slot comes from its hash's high 32 bits, which its slot keeps: moving it
     * needs neither its bytes nor its hash again */
    for (size_t j = 0; j < t->nslots; j++) {
        uint64_t s = t->slots[j];
        if (!s) continue;
        size_t i = home_slot(s, nslots - 1);
        while (slots[i]) i = (i + 1) & (nslots - 1);
        slots[i] = s;
    }
    PyMem_RawFree(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* The code of key k (n bytes); *fresh set when it was added. -1 on error. */
static int64_t tab_code(InternerObject *t, const uint8_t *k, size_t n, int *fresh) {
    *fresh = 0;
    if (t->sealed) { fail(PyExc_ValueError, "the interner is sealed"); return -1; }
    if ((t->n + 1) * 10 > t->nslots * 7 && tab_grow(t) < 0) return -1;
    if (n > UINT32_MAX || t->n >= INT32_MAX - 1) { fail(PyExc_OverflowError, "interner full"); return -1; }
    uint64_t h = hash_bytes(k, n);
    size_t mask = t->nslots - 1, i = home_slot(h, mask);
    uint64_t s, tag = h & 0xFFFFFFFF00000000ULL;
    while ((s = t->slots[i]) != 0) {
        if ((s & 0xFFFFFFFF00000000ULL) == tag) {
            size_t c = (size_t)(s & 0xFFFFFFFFu) - 1;
            if (t->off[c + 1] - t->off[c] == n && memcmp(t->arena.p + t->off[c], k, n) == 0) return (int64_t)c;
        }
        i = (i + 1) & mask;
    }
    if (t->n + 1 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        uint64_t *off = PyMem_RawRealloc(t->off, cap * sizeof(uint64_t));
        if (!off) { fail_nomem(); return -1; }
        t->off = off;
        t->cap = cap;
    }
    size_t c = t->n;
    if (buf_put(&t->arena, k, n) < 0) return -1;
    t->off[c + 1] = t->arena.n;
    t->slots[i] = tag | (uint64_t)(c + 1);
    t->n++;
    *fresh = 1;
    return (int64_t)c;
}

/* An AS path of plain ASNs, as db's fast path reads it: tokens of 1-10 digits separated by single
 * spaces, every one at most 2**32 - 1. Appends its sorted distinct ASNs and sets its origin (the
 * last ASN); 0 when the path is anything else (AS_SETs, confederations, empty, odd text). */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_plain(const uint8_t *p, size_t n, added_t *a, int64_t *origin) {
    a->scratch.n = 0;
    size_t i = 0;
    if (!n) return 0;
    for (;;) {
        uint64_t v = 0;
        size_t digits = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            v = v * 10 + (uint64_t)(p[i] - '0');
            i++;
            if (++digits > 10) return 0;
        }
        if (!digits || v > UINT32_MAX) return 0;
        if (buf_put(&a->scratch, &v, sizeof v) < 0) return -1;
        if (i == n) break;
        if (p[i] != ' ') return 0;
        i++;
        if (i == n) return 0;   /* a trailing space */
    }
    uint64_t *asns = (uint64_t *)a->scratch.p;
    size_t m = a->scratch.n / sizeof(uint64_t);
    *origin = (int64_t)asns[m - 1];
    qsort(asns, m, sizeof(uint64_t), cmp_u64);
    size_t k = 0;
    for (size_t j = 0; j < m; j++)
        if (!k || asns[j] != asns[k - 1]) asns[k++] = asns[j];
    return buf_put(&a->asn, asns, k * sizeof(uint64_t)) < 0 ? -1 : 1;
}

/* Record a new key: its text (the key up to a NUL: ADD-PATH keys carry their id after one), id,
 * and the kind's extra columns. */
static int added_put(added_t *a, InternerObject *t, const uint8_t *text, size_t n, int64_t path_id) {
    if (a->count == 0) {
        int32_t zero = 0;
        if (buf_put(&a->text_off, &zero, 4) < 0 || (t->parse && buf_put(&a->asn_off, &zero, 4) < 0)) return -1;
    }
    if (a->text.n + n > INT32_MAX) { fail(PyExc_OverflowError, "batch texts too large"); return -1; }
    int32_t end = (int32_t)(a->text.n + n);
    if (buf_put(&a->text, text, n) < 0 || buf_put(&a->text_off, &end, 4) < 0) return -1;
    if (t->parse) {
        int64_t origin = 0;
        int plain = parse_plain(text, n, a, &origin);
        if (plain < 0) return -1;
        uint8_t slow = (uint8_t)!plain;
        int32_t asn_end = (int32_t)(a->asn.n / sizeof(uint64_t));
        if (buf_put(&a->slow, &slow, 1) < 0 || buf_put(&a->origin, &origin, 8) < 0
            || buf_put(&a->asn_off, &asn_end, 4) < 0)
            return -1;
    } else if (buf_put(&a->path_ids, &path_id, 8) < 0) {
        return -1;
    }
    a->count++;
    return 0;
}

static void added_free(added_t *a) {
    buf_free(&a->text_off); buf_free(&a->text); buf_free(&a->ids); buf_free(&a->path_ids);
    buf_free(&a->slow); buf_free(&a->origin); buf_free(&a->asn_off); buf_free(&a->asn); buf_free(&a->scratch);
}

/* (count, text offsets int32, text bytes, ids uint64, path ids int64, slow uint8, origin int64,
 * ASN offsets int32, ASNs uint64); None when nothing was added. */
/* The store ids of the new texts, all at once (see md5_many); needs no GIL. */
static int added_ids(added_t *a) {
    if (a->ids_done || !a->count) return 0;
    a->ids.n = 0;
    if (buf_reserve(&a->ids, a->count * 8) < 0) return -1;
    md5_many((const int32_t *)a->text_off.p, a->text.p, a->count, (uint64_t *)a->ids.p);
    a->ids.n = a->count * 8;
    a->ids_done = 1;
    return 0;
}

static PyObject *added_tuple(added_t *a) {
    if (!a->count) Py_RETURN_NONE;
    if (!a->ids_done) {
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = added_ids(a);
        Py_END_ALLOW_THREADS
        if (r < 0) return PyErr_NoMemory();
    }
    return Py_BuildValue("(nNNNNNNNN)", (Py_ssize_t)a->count, buf_bytes(&a->text_off), buf_bytes(&a->text),
                         buf_bytes(&a->ids), buf_bytes(&a->path_ids), buf_bytes(&a->slow),
                         buf_bytes(&a->origin), buf_bytes(&a->asn_off), buf_bytes(&a->asn));
}

static int64_t key_code_raw(InternerObject *t, const char *text, Py_ssize_t n, int64_t pid, added_t *a);

/* A route key: the prefix text, then for ADD-PATH a NUL and the path id (8 bytes). */
static int64_t key_code(InternerObject *t, PyObject *prefix, PyObject *path_id, added_t *a) {
    Py_ssize_t n;
    const char *text = PyUnicode_Check(prefix) ? PyUnicode_AsUTF8AndSize(prefix, &n) : NULL;
    if (!text) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a route key's prefix must be a str");
        return -1;
    }
    int64_t pid = -1;
    if (path_id != NULL && path_id != Py_None) {
        pid = PyLong_AsLongLong(path_id);
        if (pid == -1 && PyErr_Occurred()) return -1;
        if (pid < 0) { PyErr_SetString(PyExc_ValueError, "an ADD-PATH id is not negative"); return -1; }
    }
    return key_code_raw(t, text, n, pid, a);
}

/* The same from the prefix's bytes; pid -1: no ADD-PATH id. */
static int64_t key_code_raw(InternerObject *t, const char *text, Py_ssize_t n, int64_t pid, added_t *a) {
    int fresh;
    int64_t code;
    if (pid < 0) {
        code = tab_code(t, (const uint8_t *)text, (size_t)n, &fresh);
    } else {
        uint8_t stack[256], *k = (size_t)n + 9 <= sizeof stack ? stack : PyMem_RawMalloc((size_t)n + 9);
        if (!k) { fail_nomem(); return -1; }
        memcpy(k, text, (size_t)n);
        k[n] = 0;
        memcpy(k + n + 1, &pid, 8);
        code = tab_code(t, k, (size_t)n + 9, &fresh);
        if (k != stack) PyMem_RawFree(k);
    }
    if (code >= 0 && fresh && added_put(a, t, (const uint8_t *)text, (size_t)n, pid) < 0) return -1;
    return code;
}

static int64_t text_code(InternerObject *t, PyObject *s, added_t *a) {
    Py_ssize_t n;
    const char *text = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
    if (!text) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "an AS path must be a str");
        return -1;
    }
    int fresh;
    int64_t code = tab_code(t, (const uint8_t *)text, (size_t)n, &fresh);
    if (code >= 0 && fresh && added_put(a, t, (const uint8_t *)text, (size_t)n, -1) < 0) return -1;
    return code;
}

static PyObject *interner_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *names[] = {"paths", NULL};
    int parse = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", names, &parse)) return NULL;
    InternerObject *t = (InternerObject *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    t->parse = parse;
    t->off = PyMem_RawCalloc(1024, sizeof(uint64_t));   /* off[0] = 0 */
    if (!t->off) { Py_DECREF(t); return PyErr_NoMemory(); }
    t->cap = 1024;
    return (PyObject *)t;
}

static void interner_dealloc(InternerObject *t) {
    buf_free(&t->arena);
    PyMem_RawFree(t->off); PyMem_RawFree(t->slots);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t interner_len(InternerObject *t) { return (Py_ssize_t)t->n; }

/* intern(texts, path_ids=None) -> (codes int64 bytes, added tuple | None) */
static PyObject *interner_intern(InternerObject *t, PyObject *args) {
    PyObject *texts, *pids = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &texts, &pids)) return NULL;
    PyObject *ft = PySequence_Fast(texts, "intern() needs a sequence of str");
    if (!ft) return NULL;
    PyObject *fp = pids == Py_None ? NULL : PySequence_Fast(pids, "path_ids must be a sequence");
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ft);
    PyObject *codes = NULL, *result = NULL;
    added_t a = {0};
    if (pids != Py_None && (!fp || PySequence_Fast_GET_SIZE(fp) != n)) {
        if (fp) PyErr_SetString(PyExc_ValueError, "texts and path_ids differ in length");
        goto done;
    }
    codes = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!codes) goto done;
    int64_t *c = (int64_t *)PyBytes_AS_STRING(codes);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PySequence_Fast_GET_ITEM(ft, i);
        c[i] = t->parse ? text_code(t, s, &a) : key_code(t, s, fp ? PySequence_Fast_GET_ITEM(fp, i) : NULL, &a);
        if (c[i] < 0) goto done;
    }
    result = Py_BuildValue("(ON)", codes, added_tuple(&a));
done:
    Py_DECREF(ft);
    Py_XDECREF(fp);
    Py_XDECREF(codes);
    added_free(&a);
    return result;
}

/* texts(codes) -> (offsets int32 bytes, text bytes): the texts of codes (an int64 buffer), in
 * Arrow string layout; an ADD-PATH key gives its prefix. */
static PyObject *interner_texts(InternerObject *t, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    PyObject *result = NULL;
    buf_t off = {0}, text = {0};
    if (view.itemsize != 8 || (view.format && strchr("qlQL", view.format[strlen(view.format) - 1]) == NULL)) {
        PyErr_SetString(PyExc_TypeError, "texts() needs an int64 array of codes");
        goto done;
    }
    Py_ssize_t n = view.len / 8;
    const int64_t *codes = view.buf;
    int32_t end = 0;
    if (buf_put(&off, &end, 4) < 0 || buf_reserve(&off, (size_t)n * 4) < 0) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t c = codes[i];
        if (c < 0 || (size_t)c >= t->n) { PyErr_SetString(PyExc_IndexError, "code out of range"); goto done; }
        const uint8_t *p = t->arena.p + t->off[c];
        size_t len = (size_t)(t->off[c + 1] - t->off[c]);
        const uint8_t *nul = t->parse ? NULL : memchr(p, 0, len);
        if (nul) len = (size_t)(nul - p);
        if (text.n + len > INT32_MAX) { PyErr_SetString(PyExc_OverflowError, "texts too large"); goto done; }
        end = (int32_t)(text.n + len);
        if (buf_put(&text, p, len) < 0 || buf_put(&off, &end, 4) < 0) goto done;
    }
    result = Py_BuildValue("(NN)", buf_bytes(&off), buf_bytes(&text));
done:
    PyBuffer_Release(&view);
    buf_free(&off);
    buf_free(&text);
    return result;
}

static PyObject *interner_nbytes(InternerObject *t, void *closure) {
    size_t n = t->arena.cap + t->cap * 8 + t->nslots * 8;
    return PyLong_FromSize_t(n);
}

/* seal(): no more keys will be added: the hash index is freed (texts() still works). */
static PyObject *interner_seal(InternerObject *t, PyObject *unused) {
    PyMem_RawFree(t->slots);
    t->slots = NULL;
    t->nslots = 0;
    t->sealed = 1;
    Py_RETURN_NONE;
}

static PyMethodDef interner_methods[] = {
    {"seal", (PyCFunction)interner_seal, METH_NOARGS,
     "seal(): no more keys: frees the hash index (about 11 bytes a key); texts() still works."},
    {"intern", (PyCFunction)interner_intern, METH_VARARGS,
     "intern(texts, path_ids=None) -> (codes, added): int64 codes (bytes) and what was new (see columns)."},
    {"texts", (PyCFunction)interner_texts, METH_O,
     "texts(codes) -> (offsets, data): the texts of int64 codes as Arrow string buffers (int32 offsets)."},
    {NULL}
};

static PyGetSetDef interner_getset[] = {
    {"nbytes", (getter)interner_nbytes, NULL, "bytes held by the table", NULL},
    {NULL}
};

static PySequenceMethods interner_as_sequence = { .sq_length = (lenfunc)interner_len };

static PyTypeObject InternerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "transitwatch.store._intern.Interner",
    .tp_basicsize = sizeof(InternerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Interner(paths=False): texts -> codes 0, 1, 2, ... in first-seen order (route keys, or AS "
              "paths when paths=True: new ones are parsed).",
    .tp_new = interner_new,
    .tp_dealloc = (destructor)interner_dealloc,
    .tp_methods = interner_methods,
    .tp_getset = interner_getset,
    .tp_as_sequence = &interner_as_sequence,
};

/* ---- columns(): one batch of observations ------------------------------------------------------ */

/* Where the fields live in an observation: read from the member descriptors of ObservationBase
 * (bind), so this module does not depend on the decoder's struct layout. */
enum { F_TIME, F_KIND, F_PEER_IP, F_PREFIX, F_AS_PATH, F_PATH_ID, F_OFFSET, F_N };
static const char *field_names[F_N] = {"time", "kind", "peer_ip", "prefix", "as_path", "path_id", "offset"};
static Py_ssize_t field_off[F_N];
static PyTypeObject *obs_base;
static PyObject *K_ANNOUNCE, *K_WITHDRAW, *K_RIB, *K_STATE, *S_EMPTY;

#define FIELD(o, f) (*(PyObject **)((char *)(o) + field_off[f]))

static PyObject *bind(PyObject *mod, PyObject *base) {
    if (!PyType_Check(base)) { PyErr_SetString(PyExc_TypeError, "bind() needs the observation base type"); return NULL; }
    for (int f = 0; f < F_N; f++) {
        PyObject *d = PyObject_GetAttrString(base, field_names[f]);
        if (!d) return NULL;
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type) || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT) {
            Py_DECREF(d);
            PyErr_Format(PyExc_TypeError, "observation field %s is not an object slot", field_names[f]);
            return NULL;
        }
        field_off[f] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
    }
    Py_XSETREF(obs_base, (PyTypeObject *)Py_NewRef(base));
    Py_RETURN_NONE;
}

static int kind_code(PyObject *kind) {
    if (kind == K_ANNOUNCE) return 0;
    if (kind == K_WITHDRAW) return 1;
    if (kind == K_RIB) return 2;
    if (kind == K_STATE) return 3;
    if (kind && PyUnicode_Check(kind)) {  /* built in Python: equal text, another object */
        if (PyUnicode_Compare(kind, K_ANNOUNCE) == 0) return 0;
        if (PyUnicode_Compare(kind, K_WITHDRAW) == 0) return 1;
        if (PyUnicode_Compare(kind, K_RIB) == 0) return 2;
        if (PyUnicode_Compare(kind, K_STATE) == 0) return 3;
    }
    PyErr_SetString(PyExc_ValueError, "observation of unknown kind");
    return -1;
}

/* The code of `key` in the dict `index`, adding it with the next code when new. A new key is
 * stored as a fresh copy: the decoded one would pin its batch's memory after the batch is freed. */
static int64_t dict_code(PyObject *index, PyObject *key, PyObject *added) {
    PyObject *v = PyDict_GetItemWithError(index, key);
    if (v) return PyLong_AsLongLong(v);
    if (PyErr_Occurred()) return -1;
    if (!PyUnicode_Check(key)) { PyErr_SetString(PyExc_TypeError, "peer_ip must be a str"); return -1; }
    int64_t c = PyDict_GET_SIZE(index);
    PyObject *code = PyLong_FromLongLong(c);
    PyObject *own = PyUnicode_FromKindAndData(PyUnicode_KIND(key), PyUnicode_DATA(key), PyUnicode_GET_LENGTH(key));
    int bad = !code || !own || PyDict_SetItem(index, own, code) < 0 || PyList_Append(added, own) < 0;
    Py_XDECREF(code);
    Py_XDECREF(own);
    return bad ? -1 : c;
}

/* Most route keys of a table are new: the probe ends at an empty slot, a cache miss each. The
 * loop asks for the slot of the observation PREFETCH_AHEAD places on while it works on this one
 * (the hash is the one tab_code will compute: plain ASCII prefixes; others are not prefetched). */
#define PREFETCH_AHEAD 16

static void prefetch_key(InternerObject *t, PyObject *o) {
    if (!t->nslots || !PyObject_TypeCheck(o, obs_base)) return;
    PyObject *prefix = FIELD(o, F_PREFIX), *pid = FIELD(o, F_PATH_ID);
    if (!prefix || !PyUnicode_Check(prefix) || !PyUnicode_IS_COMPACT_ASCII(prefix) || (pid && pid != Py_None))
        return;
    uint64_t h = hash_bytes(PyUnicode_DATA(prefix), (size_t)PyUnicode_GET_LENGTH(prefix));
    __builtin_prefetch(&t->slots[home_slot(h, t->nslots - 1)]);
}

static PyObject *columns(PyObject *self, PyObject *args) {
    PyObject *batch, *peers;
    InternerObject *keys, *paths;
    if (!PyArg_ParseTuple(args, "OO!O!O!", &batch, &PyDict_Type, &peers, &InternerType, &keys, &InternerType,
                          &paths))
        return NULL;
    if (!obs_base) { PyErr_SetString(PyExc_RuntimeError, "call bind() first"); return NULL; }
    if (keys->parse || !paths->parse) {
        PyErr_SetString(PyExc_ValueError, "columns() needs a route key interner and an AS path interner");
        return NULL;
    }
    PyObject *fast = PySequence_Fast(batch, "columns() needs a sequence of observations");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    if (tab_reserve(keys, (size_t)n) < 0) { Py_DECREF(fast); return NULL; }
    PyObject *kind_b = PyBytes_FromStringAndSize(NULL, n);
    PyObject *time_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *off_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *peer_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *key_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *path_b = PyBytes_FromStringAndSize(NULL, n * 4);
    PyObject *new_peers = PyList_New(0);
    PyObject *result = NULL;
    added_t new_keys = {0}, new_paths = {0};
    if (!kind_b || !time_b || !off_b || !peer_b || !key_b || !path_b || !new_peers) goto done;
    int8_t *kind = (int8_t *)PyBytes_AS_STRING(kind_b);
    double *time = (double *)PyBytes_AS_STRING(time_b);
    int64_t *off = (int64_t *)PyBytes_AS_STRING(off_b);
    int64_t *peer = (int64_t *)PyBytes_AS_STRING(peer_b);
    int64_t *key = (int64_t *)PyBytes_AS_STRING(key_b);
    int32_t *path = (int32_t *)PyBytes_AS_STRING(path_b);
    /* The routes of one record share its peer and AS path objects: the same object as the
     * previous observation's has the same code, without hashing it again. */
    PyObject *last_ip = NULL, *last_path = NULL;
    int64_t last_peer_code = -1, last_path_code = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        if (i + PREFETCH_AHEAD < n) prefetch_key(keys, items[i + PREFETCH_AHEAD]);
        if (!PyObject_TypeCheck(o, obs_base)) {
            PyErr_SetString(PyExc_TypeError, "columns() needs observations");
            goto done;
        }
        int k = kind_code(FIELD(o, F_KIND));
        if (k < 0) goto done;
        kind[i] = (int8_t)k;
        PyObject *t = FIELD(o, F_TIME), *ofs = FIELD(o, F_OFFSET), *prefix = FIELD(o, F_PREFIX);
        time[i] = t ? PyFloat_AsDouble(t) : -1.0;
        off[i] = !ofs || ofs == Py_None ? -1 : PyLong_AsLongLong(ofs);
        if (PyErr_Occurred()) goto done;
        PyObject *ip = FIELD(o, F_PEER_IP);
        if (ip && ip == last_ip) {
            peer[i] = last_peer_code;
        } else if (!ip || (peer[i] = dict_code(peers, ip, new_peers)) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "observation without peer_ip");
            goto done;
        } else {
            last_ip = ip;
            last_peer_code = peer[i];
        }
        if (k == 3 || !prefix || prefix == Py_None) {
            key[i] = -1;
        } else if ((key[i] = key_code(keys, prefix, FIELD(o, F_PATH_ID), &new_keys)) < 0) {
            goto done;
        }
        if (k == 0 || k == 2) {
            PyObject *p = FIELD(o, F_AS_PATH);
            if (!p || p == Py_None) p = S_EMPTY;
            if (p != last_path) {
                last_path_code = text_code(paths, p, &new_paths);
                if (last_path_code < 0) goto done;
                last_path = p;
            }
            path[i] = (int32_t)last_path_code;
        } else {
            path[i] = -1;
        }
    }
    result = Py_BuildValue("(OOOOOOONN)", kind_b, time_b, off_b, peer_b, key_b, path_b, new_peers,
                           added_tuple(&new_keys), added_tuple(&new_paths));
done:
    Py_DECREF(fast);
    Py_XDECREF(kind_b); Py_XDECREF(time_b); Py_XDECREF(off_b); Py_XDECREF(peer_b); Py_XDECREF(key_b);
    Py_XDECREF(path_b); Py_XDECREF(new_peers);
    added_free(&new_keys);
    added_free(&new_paths);
    return result;
}

/* A read-only buffer of n items of `size` bytes (numpy arrays, bytes). */
static int get_items(PyObject *o, Py_buffer *v, Py_ssize_t size, Py_ssize_t n, const char *what) {
    if (PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (v->len != size * n) {
        PyErr_Format(PyExc_ValueError, "columns_raw(): %s has %zd bytes, not %zd", what, v->len, size * n);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

/* columns_raw(kind, peer, peers, prefix_offsets, prefix_text, path_id, path, paths, peer_index,
 * keys, path_interner): the codes columns() gives, for a batch the decoder packed as columns
 * (sources.columns.RouteColumns): no Python object per route is read. */
static PyObject *columns_raw(PyObject *self, PyObject *args) {
    PyObject *kind_o, *peer_o, *peers, *off_o, *text_o, *pid_o, *path_o, *paths, *index;
    InternerObject *keys, *pint;
    if (!PyArg_ParseTuple(args, "OOO!OOOOO!O!O!O!", &kind_o, &peer_o, &PyList_Type, &peers, &off_o, &text_o,
                          &pid_o, &path_o, &PyList_Type, &paths, &PyDict_Type, &index, &InternerType, &keys,
                          &InternerType, &pint))
        return NULL;
    if (keys->parse || !pint->parse) {
        PyErr_SetString(PyExc_ValueError, "columns_raw() needs a route key interner and an AS path interner");
        return NULL;
    }
    Py_buffer kv = {0}, pv = {0}, ov = {0}, tv = {0}, iv = {0}, av = {0};
    PyObject *result = NULL, *peer_b = NULL, *key_b = NULL, *path_b = NULL, *new_peers = NULL;
    int64_t *peer_map = NULL, *path_map = NULL;
    added_t new_keys = {0}, new_paths = {0};
    if (PyObject_GetBuffer(kind_o, &kv, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    Py_ssize_t n = kv.len;
    if (get_items(peer_o, &pv, 4, n, "peer") < 0) goto done;
    if (get_items(off_o, &ov, 4, n + 1, "prefix_offsets") < 0) goto done;
    if (PyObject_GetBuffer(text_o, &tv, PyBUF_C_CONTIGUOUS) < 0) goto done;
    if (get_items(pid_o, &iv, 8, n, "path_id") < 0) goto done;
    if (get_items(path_o, &av, 4, n, "path") < 0) goto done;
    const int8_t *kind = kv.buf;
    const int32_t *peer = pv.buf, *off = ov.buf, *path = av.buf;
    const int64_t *pid = iv.buf;
    const char *text = tv.buf;
    Py_ssize_t npeers = PyList_GET_SIZE(peers), npaths = PyList_GET_SIZE(paths);
    peer_b = PyBytes_FromStringAndSize(NULL, n * 8);
    key_b = PyBytes_FromStringAndSize(NULL, n * 8);
    path_b = PyBytes_FromStringAndSize(NULL, n * 4);
    new_peers = PyList_New(0);
    peer_map = PyMem_RawMalloc((size_t)(npeers + 1) * 8);
    path_map = PyMem_RawMalloc((size_t)(npaths + 1) * 8);
    if (!peer_b || !key_b || !path_b || !new_peers || !peer_map || !path_map) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t j = 0; j < npeers; j++) {
        PyObject *e = PyList_GET_ITEM(peers, j);
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2) {
            PyErr_SetString(PyExc_TypeError, "columns_raw(): peers are (peer_ip, peer_asn) pairs");
            goto done;
        }
        if ((peer_map[j] = dict_code(index, PyTuple_GET_ITEM(e, 0), new_peers)) < 0) goto done;
    }
    for (Py_ssize_t j = 0; j < npaths; j++) {
        PyObject *p = PyList_GET_ITEM(paths, j);
        if ((path_map[j] = text_code(pint, p == Py_None ? S_EMPTY : p, &new_paths)) < 0) goto done;
    }
    if (keys->sealed) { PyErr_SetString(PyExc_ValueError, "the interner is sealed"); goto done; }
    if (tab_reserve(keys, (size_t)n) < 0) goto done;
    int64_t *peer_out = (int64_t *)PyBytes_AS_STRING(peer_b), *key_out = (int64_t *)PyBytes_AS_STRING(key_b);
    int32_t *path_out = (int32_t *)PyBytes_AS_STRING(path_b);
    /* The route keys without the GIL: the buffers are held (and the interner is this caller's),
     * so the decoding of the next batch can run meanwhile. */
    deferred_t err = {0};
    Py_BEGIN_ALLOW_THREADS
    deferred = &err;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n && pid[i + PREFETCH_AHEAD] < 0 && keys->nslots) {
            Py_ssize_t a = off[i + PREFETCH_AHEAD], b = off[i + PREFETCH_AHEAD + 1];
            if (a >= 0 && b >= a && (size_t)b <= (size_t)tv.len)
                __builtin_prefetch(&keys->slots[home_slot(hash_bytes((const uint8_t *)text + a, (size_t)(b - a)),
                                                          keys->nslots - 1)]);
        }
        if (peer[i] < 0 || peer[i] >= npeers || path[i] >= npaths || off[i] < 0 || off[i + 1] < off[i]
            || (size_t)off[i + 1] > (size_t)tv.len || kind[i] < 0 || kind[i] > 3) {
            fail(PyExc_ValueError, "columns_raw(): a row points outside its batch");
            break;
        }
        peer_out[i] = peer_map[peer[i]];
        if (kind[i] == 3) {
            key_out[i] = -1;
        } else if ((key_out[i] = key_code_raw(keys, text + off[i], off[i + 1] - off[i], pid[i], &new_keys)) < 0) {
            break;
        }
        path_out[i] = (kind[i] == 0 || kind[i] == 2) && path[i] >= 0 ? (int32_t)path_map[path[i]] : -1;
    }
    if (!err.set) added_ids(&new_keys);
    deferred = NULL;
    Py_END_ALLOW_THREADS
    if (err.set) { raise_deferred(&err); goto done; }
    result = Py_BuildValue("(OOONNN)", peer_b, key_b, path_b, new_peers, added_tuple(&new_keys),
                           added_tuple(&new_paths));
    new_peers = NULL;
done:
    PyBuffer_Release(&kv);
    if (pv.obj) PyBuffer_Release(&pv);
    if (ov.obj) PyBuffer_Release(&ov);
    if (tv.obj) PyBuffer_Release(&tv);
    if (iv.obj) PyBuffer_Release(&iv);
    if (av.obj) PyBuffer_Release(&av);
    Py_XDECREF(peer_b); Py_XDECREF(key_b); Py_XDECREF(path_b); Py_XDECREF(new_peers);
    PyMem_RawFree(peer_map); PyMem_RawFree(path_map);
    added_free(&new_keys); added_free(&new_paths);
    return result;
}

static PyObject *stable_ids(PyObject *self, PyObject *arg) {
    PyObject *fast = PySequence_Fast(arg, "stable_ids() needs a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 8);
    if (out) {
        uint64_t *ids = (uint64_t *)PyBytes_AS_STRING(out);
        md5_batch b = {.k = 0};
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t len;
            PyObject *s = PySequence_Fast_GET_ITEM(fast, i);
            const char *text = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &len) : NULL;
            if (!text) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "stable_ids() needs str");
                Py_CLEAR(out);
                break;
            }
            md5_add(&b, (const uint8_t *)text, (size_t)len, &ids[i]);
        }
        if (out) md5_flush(&b);
    }
    Py_DECREF(fast);
    return out;
}

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

static PyMethodDef module_methods[] = {
    {"bind", bind, METH_O, "bind(ObservationBase): where columns() finds the observation fields."},
    {"columns_raw", columns_raw, METH_VARARGS,
     "columns_raw(kind, peer, peers, prefix_offsets, prefix_text, path_id, path, paths, peer_index, keys, "
     "path_interner) -> (peer, key, path, new_peers, new_keys, new_paths): the codes columns() gives, for "
     "a batch the decoder packed as columns (sources.columns.RouteColumns)."},
    {"columns", columns, METH_VARARGS,
     "columns(batch, peers, keys, paths) -> (kind, time, offset, peer, key, path, new_peers, new_keys, "
     "new_paths): packed columns (int8 kind 0 announce 1 withdraw 2 rib 3 state; float64 time; int64 "
     "offset, -1 for None; int64 codes of peer_ip through the dict `peers` and of the route key (prefix, "
     "ADD-PATH id) through the Interner `keys`, -1 for state; int32 code of the AS path through the "
     "Interner `paths`, '' when absent, -1 for withdrawals and state), the peers added and what each "
     "Interner added: None or (count, text offsets int32, texts, ids uint64, path ids int64, slow uint8, "
     "origin int64, ASN offsets int32, ASNs uint64)."},
    {"stable_ids", stable_ids, METH_O,
     "stable_ids(texts) -> bytes: db.stable_id of each str (uint64, the low 64 bits of its MD5)."},
    {NULL}
};

static struct PyModuleDef intern_module = {
    PyModuleDef_HEAD_INIT, "_intern", "C core of the columnar ingest: interning and batch columns.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__intern(void) {
    if (PyType_Ready(&InternerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&intern_module);
    if (!m) return NULL;
    /* setup.py passes the SHA-256 of this file; transitwatch.native refuses a stale build. */
    PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256);
    Py_INCREF(&InternerType);
    PyModule_AddObject(m, "Interner", (PyObject *)&InternerType);
    K_ANNOUNCE = PyUnicode_InternFromString("announce");
    K_WITHDRAW = PyUnicode_InternFromString("withdraw");
    K_RIB = PyUnicode_InternFromString("rib");
    K_STATE = PyUnicode_InternFromString("state");
    S_EMPTY = PyUnicode_InternFromString("");
    if (!K_ANNOUNCE || !K_WITHDRAW || !K_RIB || !K_STATE || !S_EMPTY) return NULL;
    return m;
}
