/*
 * transitwatch C core: the MRT record decoder and the bgpdump -m formatter.
 *
 * Why C: the decoder is the one hot loop of the project (every route of every archive file passes
 * through it). Pure Python parsers run at ~100k routes/s; this one decodes straight into
 * Observation objects at several times bgpdump's speed. Decompression stays in Python (zlib/bz2 are
 * C already), the parser is fed decompressed chunks and keeps only the incomplete tail record, so
 * memory does not grow with file size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------------------
 * Observation: one route observation. Fields are plain Python objects; the Python subclass in
 * transitwatch/observation.py adds methods. C allocates instances of that subclass directly.
 * ------------------------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *time;          /* float, UTC epoch seconds (microseconds where the file has them) */
    PyObject *kind;          /* "announce" | "withdraw" | "rib" | "state" */
    PyObject *peer_ip;       /* str */
    PyObject *peer_asn;      /* int */
    PyObject *prefix;        /* str "a.b.c.d/n" | "x::/n" | None (state) */
    PyObject *as_path;       /* str, bgpdump notation: "1 2 {3,4}" | None */
    PyObject *origin;        /* "IGP" | "EGP" | "INCOMPLETE" | None */
    PyObject *next_hop;      /* str | None */
    PyObject *local_pref;    /* int | None */
    PyObject *med;           /* int | None */
    PyObject *communities;   /* str "65000:1 65000:2" | None */
    PyObject *large_communities; /* str "1:2:3 4:5:6" | None */
    PyObject *atomic_aggregate;  /* bool */
    PyObject *aggregator;    /* str "AS IP" | None */
    PyObject *path_id;       /* int | None (ADD-PATH) */
    PyObject *safi;          /* int | None: 1 unicast, 2 multicast (RFC 4760); None for state changes */
    PyObject *old_state;     /* int | None (state changes) */
    PyObject *new_state;     /* int | None */
    PyObject *originated;    /* int | None (RIB entries: originated time) */
    PyObject *record_type;   /* str, bgpdump label: TABLE_DUMP, TABLE_DUMP2, TABLE_DUMP2_AP, BGP4MP, BGP4MP_ET */
    PyObject *collector;     /* str */
    PyObject *source;        /* str, file the record came from */
    PyObject *offset;        /* int, byte offset of the MRT record in the decompressed stream */
} ObsObject;

#define OBS_NFIELDS 23

static const char *obs_field_names[OBS_NFIELDS] = {
    "time", "kind", "peer_ip", "peer_asn", "prefix", "as_path", "origin", "next_hop", "local_pref",
    "med", "communities", "large_communities", "atomic_aggregate", "aggregator", "path_id", "safi",
    "old_state", "new_state", "originated", "record_type", "collector", "source", "offset",
};

static PyObject **obs_slot(ObsObject *o, int i) { return (&o->time) + i; }

static PyMemberDef obs_members[] = {
#define M(name, doc) {#name, T_OBJECT, offsetof(ObsObject, name), READONLY, doc}
    M(time, "UTC epoch seconds as float; microseconds kept where the file has them (BGP4MP_ET)."),
    M(kind, "'announce', 'withdraw', 'rib' (RIB dump entry) or 'state' (session state change)."),
    M(peer_ip, "IP address of the peer (vantage point) that sent the route."),
    M(peer_asn, "AS number of the peer."),
    M(prefix, "Prefix in CIDR notation, host bits cleared; None for state changes."),
    M(as_path, "AS path in bgpdump notation ('1 2 {3,4}'); None when absent."),
    M(origin, "ORIGIN attribute: 'IGP', 'EGP' or 'INCOMPLETE'; None when absent."),
    M(next_hop, "Next hop (NEXT_HOP or MP_REACH next hop)."),
    M(local_pref, "LOCAL_PREF or None."),
    M(med, "MULTI_EXIT_DISC or None."),
    M(communities, "Communities, space separated 'asn:value', or None."),
    M(large_communities, "Large communities 'a:b:c', space separated, or None."),
    M(atomic_aggregate, "True when ATOMIC_AGGREGATE is present."),
    M(aggregator, "AGGREGATOR as 'ASN IP' (AS4_AGGREGATOR merged), or None."),
    M(path_id, "ADD-PATH path identifier, or None."),
    M(safi, "Subsequent address family of the route: 1 unicast, 2 multicast (RFC 4760); None for state changes."),
    M(old_state, "State changes: the BGP FSM state left (1..6)."),
    M(new_state, "State changes: the BGP FSM state entered (1..6)."),
    M(originated, "RIB entries: the time the route was originated (epoch seconds)."),
    M(record_type, "MRT record label as bgpdump prints it (TABLE_DUMP2, BGP4MP, BGP4MP_ET, ...)."),
    M(collector, "Collector name (rrc00, route-views2, ...) or '' when unknown."),
    M(source, "The file (or stream) the observation came from."),
    M(offset, "Byte offset of the MRT record in the decompressed file."),
#undef M
    {NULL}
};

static void obs_dealloc(ObsObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    for (int i = 0; i < OBS_NFIELDS; i++) Py_CLEAR(*obs_slot(self, i));
    /* The Python subclass's subtype_dealloc drops the heap type reference itself. */
    tp->tp_free((PyObject *)self);
}


static PyObject *obs_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    ObsObject *self = (ObsObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    for (int i = 0; i < OBS_NFIELDS; i++) { Py_INCREF(Py_None); *obs_slot(self, i) = Py_None; }
    return (PyObject *)self;
}

/* Keyword-only construction from Python (RIS Live, tests, scenario files). */
static int obs_init(ObsObject *self, PyObject *args, PyObject *kwds) {
    if (args && PyTuple_GET_SIZE(args)) {
        PyErr_SetString(PyExc_TypeError, "Observation takes keyword arguments only");
        return -1;
    }
    if (!kwds) return 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kwds, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        if (!k) return -1;
        int found = 0;
        for (int i = 0; i < OBS_NFIELDS; i++) {
            if (strcmp(k, obs_field_names[i]) == 0) {
                Py_INCREF(value);
                Py_SETREF(*obs_slot(self, i), value);
                found = 1;
                break;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError, "Observation has no field %R", key);
            return -1;
        }
    }
    return 0;
}

static PyObject *obs_fields(PyObject *self, PyObject *unused) {
    PyObject *t = PyTuple_New(OBS_NFIELDS);
    if (!t) return NULL;
    for (int i = 0; i < OBS_NFIELDS; i++) {
        PyObject *v = *obs_slot((ObsObject *)self, i);
        Py_INCREF(v);
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *obs_replace(PyObject *self, PyObject *args, PyObject *kwds) {
    PyTypeObject *tp = Py_TYPE(self);
    ObsObject *n = (ObsObject *)tp->tp_alloc(tp, 0);
    if (!n) return NULL;
    for (int i = 0; i < OBS_NFIELDS; i++) {
        PyObject *v = *obs_slot((ObsObject *)self, i);
        Py_INCREF(v);
        *obs_slot(n, i) = v;
    }
    if (obs_init(n, args, kwds) < 0) { Py_DECREF(n); return NULL; }
    return (PyObject *)n;
}

static PyTypeObject ObsBaseType;

static PyObject *obs_richcompare(PyObject *a, PyObject *b, int op) {
    if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, &ObsBaseType))
        Py_RETURN_NOTIMPLEMENTED;
    for (int i = 0; i < OBS_NFIELDS; i++) {
        int r = PyObject_RichCompareBool(*obs_slot((ObsObject *)a, i), *obs_slot((ObsObject *)b, i), Py_EQ);
        if (r < 0) return NULL;
        if (!r) { if (op == Py_EQ) Py_RETURN_FALSE; Py_RETURN_TRUE; }
    }
    if (op == Py_EQ) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyMethodDef obs_methods[] = {
    {"fields", obs_fields, METH_NOARGS, "All field values as a tuple, in FIELDS order."},
    {"replace", (PyCFunction)(void (*)(void))obs_replace, METH_VARARGS | METH_KEYWORDS,
     "A copy with the given fields replaced."},
    {NULL}
};

static PyTypeObject ObsBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "transitwatch.sources._mrt.ObservationBase",
    .tp_basicsize = sizeof(ObsObject),
    /* Not GC-tracked: fields hold only str/int/float/bool/None, which cannot form cycles, and
     * skipping the cyclic collector's bookkeeping makes decoding ~30% cheaper. */
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "C storage of an Observation; use transitwatch.Observation.",
    .tp_new = obs_new,
    .tp_init = (initproc)obs_init,
    .tp_dealloc = (destructor)obs_dealloc,
    .tp_members = obs_members,
    .tp_methods = obs_methods,
    .tp_richcompare = obs_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
};

/* The Python subclass that decoded records are created as (set by transitwatch.observation). */
static PyTypeObject *obs_type = &ObsBaseType;

static PyObject *set_observation_type(PyObject *mod, PyObject *cls) {
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &ObsBaseType)) {
        PyErr_SetString(PyExc_TypeError, "expected a subclass of ObservationBase");
        return NULL;
    }
    PyTypeObject *t = (PyTypeObject *)cls;
    if (t->tp_basicsize != ObsBaseType.tp_basicsize || t->tp_dictoffset || t->tp_weaklistoffset) {
        PyErr_SetString(PyExc_TypeError, "the Observation subclass must declare __slots__ = ()");
        return NULL;
    }
    /* A class statement always makes a GC-tracked type. Instances hold only scalars and strings,
     * which cannot form reference cycles, so opt out (called once, before any instance exists):
     * the collector's bookkeeping on millions of routes costs about a third of decoding time. */
    t->tp_flags &= ~Py_TPFLAGS_HAVE_GC;
    t->tp_free = PyObject_Del;
    t->tp_traverse = NULL;
    t->tp_clear = NULL;
    PyType_Modified(t);
    Py_INCREF(cls);
    obs_type = t;
    Py_RETURN_NONE;
}

/* ================================================================================================
 * Decoder
 * ================================================================================================ */
#include <arpa/inet.h>

/* Interned constants, created at module init. */
static PyObject *K_ANNOUNCE, *K_WITHDRAW, *K_RIB, *K_STATE;
static PyObject *S_IGP, *S_EGP, *S_INCOMPLETE, *S_EMPTY;
static PyObject *L_TABLE_DUMP, *L_TABLE_DUMP2, *L_TABLE_DUMP2_AP, *L_BGP, *L_BGP4MP_ENTRY;
static PyObject *L_BGP4MP[2][2][2]; /* [et][local][addpath] */

/* Reasons a record (or part of one) was skipped; reported in stats. */
enum {
    R_TRUNCATED_RECORD, R_BAD_HEADER, R_UNKNOWN_TYPE, R_MALFORMED, R_NO_PEER_INDEX,
    R_BAD_PEER_INDEX, R_BAD_PREFIX, R_BAD_ATTRIBUTE, R_BAD_MARKER, R_UNSUPPORTED_AFI, R_NREASONS
};
static const char *reason_names[R_NREASONS] = {
    "truncated record", "bad record header", "unknown record type", "malformed record",
    "RIB entry before peer index table", "peer index out of range", "bad prefix",
    "bad attribute", "bad BGP marker", "unsupported address family",
};

/* ---- small string cache: identical raw bytes -> the same str object (interning) ---------------- */
#ifndef SCACHE_SIZE          /* the fuzz harness makes it and the first buffer small (fast runs) */
#define SCACHE_SIZE 16384
#endif
#ifndef FIRST_BUFFER
#define FIRST_BUFFER (1 << 20)
#endif
typedef struct { uint64_t h; uint32_t len; uint8_t *key; PyObject *val; } scache_entry;

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h;
}

/* ---- PrefixSet: an open-addressing hash set of prefixes, shared by the decoders of one run ----- */
#define PS_KEY 18   /* afi, length, 16 address bytes (host bits cleared) */
typedef struct {
    PyObject_HEAD
    uint8_t *keys; uint8_t *used; size_t cap, n;
    uint8_t lens[2][129];   /* prefix lengths present per family: ps_covered tries only these */
    uint8_t heads[2][8192]; /* per family, the first 16 address bits under some prefix (a bitmap) */
} PrefixSetObject;

static void ps_key(uint8_t *k, int afi, int plen, const uint8_t *bytes) {
    memset(k, 0, PS_KEY);
    k[0] = (uint8_t)afi; k[1] = (uint8_t)plen;
    int nb = (plen + 7) / 8;
    memcpy(k + 2, bytes, nb);
    if (plen % 8) k[2 + nb - 1] &= (uint8_t)(0xFF << (8 - plen % 8));
}

static size_t ps_slot(PrefixSetObject *s, const uint8_t *k) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < PS_KEY; i++) { h ^= k[i]; h *= 1099511628211ULL; }
    size_t i = (size_t)h & (s->cap - 1);
    while (s->used[i] && memcmp(s->keys + i * PS_KEY, k, PS_KEY) != 0) i = (i + 1) & (s->cap - 1);
    return i;
}

static int ps_has(PrefixSetObject *s, int afi, int plen, const uint8_t *bytes) {
    if (!s || !s->n) return 0;
    uint8_t k[PS_KEY];
    ps_key(k, afi, plen, bytes);
    return s->used[ps_slot(s, k)];
}

static int ps_add(PrefixSetObject *s, int afi, int plen, const uint8_t *bytes) {
    if (!s) return 0;
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint8_t *nk = PyMem_Calloc(ncap, PS_KEY), *nu = PyMem_Calloc(ncap, 1);
        if (!nk || !nu) { PyMem_Free(nk); PyMem_Free(nu); PyErr_NoMemory(); return -1; }
        uint8_t *ok = s->keys, *ou = s->used; size_t ocap = s->cap;
        s->keys = nk; s->used = nu; s->cap = ncap;
        for (size_t i = 0; i < ocap; i++) if (ou[i]) {
            size_t j = ps_slot(s, ok + i * PS_KEY);
            memcpy(s->keys + j * PS_KEY, ok + i * PS_KEY, PS_KEY); s->used[j] = 1;
        }
        PyMem_Free(ok); PyMem_Free(ou);
    }
    uint8_t k[PS_KEY];
    ps_key(k, afi, plen, bytes);
    size_t i = ps_slot(s, k);
    if (!s->used[i]) { memcpy(s->keys + i * PS_KEY, k, PS_KEY); s->used[i] = 1; s->n++; }
    if ((afi == 1 || afi == 2) && plen >= 0 && plen <= 128) {
        s->lens[afi - 1][plen] = 1;
        unsigned head = (unsigned)k[2] << 8 | k[3];
        unsigned span = plen >= 16 ? 1u : 1u << (16 - plen);
        for (unsigned h = head; h < head + span && h < 65536; h++) s->heads[afi - 1][h >> 3] |= (uint8_t)(1 << (h & 7));
    }
    return 0;
}

/* Is this prefix, or a less specific one, in the set? (one lookup per length present) */
static int ps_covered(PrefixSetObject *s, int afi, int plen, const uint8_t *bytes) {
    if (!s || !s->n || (afi != 1 && afi != 2)) return 0;
    unsigned head = (unsigned)(plen > 0 ? bytes[0] : 0) << 8 | (plen > 8 ? bytes[1] : 0);
    if (plen < 16) head &= 0xFFFFu << (16 - plen) & 0xFFFFu;  /* host bits cleared, as ps_key does */
    if (!(s->heads[afi - 1][head >> 3] & (1 << (head & 7)))) return 0;  /* nothing covers its /16 */
    for (int l = 0; l <= plen && l <= 128; l++)
        if (s->lens[afi - 1][l] && ps_has(s, afi, l, bytes)) return 1;
    return 0;
}

static void ps_dealloc(PrefixSetObject *s) {
    PyMem_Free(s->keys); PyMem_Free(s->used);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static Py_ssize_t ps_len(PrefixSetObject *s) { return (Py_ssize_t)s->n; }

static PySequenceMethods ps_as_sequence = { .sq_length = (lenfunc)ps_len };

static PyTypeObject PrefixSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "transitwatch.sources._mrt.PrefixSet",
    .tp_basicsize = sizeof(PrefixSetObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PrefixSet(): prefixes a route filter has seen in target routes (shared across files).",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)ps_dealloc,
    .tp_as_sequence = &ps_as_sequence,
};

typedef struct {
    PyObject_HEAD
    PyObject *source, *collector;
    uint8_t *buf; size_t len, cap, pos;  /* unparsed bytes are buf[pos:len] */
    unsigned long long base;             /* stream offset of buf[0] */
    /* TABLE_DUMP_V2 peer index */
    int npeers; PyObject **peer_ip; PyObject **peer_asn;
    int have_peer_index;
    /* stats */
    unsigned long long records, routes, bytes, addpath_guessed;
    unsigned long long skipped[R_NREASONS];
    unsigned long long types_seen[64];
    PyObject *errors;                    /* list of (offset, message), first MAX_ERRORS */
    unsigned long long nerrors;
    int resyncing; unsigned long long resync_from;
    uint32_t last_ts;
    double first_time, last_time;        /* extent of all records read (filtered ones too) */
    scache_entry *cache;
    PyObject *out;                       /* list being filled by the current feed() */
    /* Optional route filter for BGP4MP announcements (see Decoder.set_filter). */
    int filter_on;
    uint32_t *f_asns; int f_nasns;
    struct fpfx { int afi; uint8_t a[16]; int plen; } *f_pfx; int f_npfx;
    int ann_mode;                        /* for the UPDATE being decoded: 0 all, 1 by prefix, 3 all + remember */
    PrefixSetObject *sticky;             /* prefixes seen in target routes: their later announcements pass */
    PrefixSetObject *own;                /* prefixes the target ASNs originate: more-specifics pass too */
    int ann_own;                         /* the UPDATE being decoded is originated by a target ASN */
    unsigned long long filtered;
    int cur_safi;                        /* SAFI of the routes being emitted */
    int safi_sel;                        /* emit only routes of this SAFI; 0: every SAFI; -1: as bgpdump */
    unsigned long long safi_filtered;    /* routes left out by safi_sel */
    unsigned long long unsup_safi[256];  /* NLRI blocks of SAFIs whose NLRI is not a plain prefix */
    unsigned long long zero_run;         /* consecutive empty type-0 records (a file of zeros) */
    int not_mrt;                         /* the input is not MRT data: parsing stopped */
    int early_td;                        /* early RIS multi-entry TABLE_DUMP records seen */
    struct select_s *sel;                /* Optional selection of dump / tw.routes (Decoder.set_select) */
    struct colbuf_s *col;                /* Column mode (Decoder.set_columns): routes as packed columns */
} DecoderObject;

#define MAX_ERRORS 1000

static PyObject *cached_str(DecoderObject *d, int tag, const uint8_t *raw, size_t rawlen,
                            const char *text, Py_ssize_t textlen) {
    uint64_t h = fnv1a(raw, rawlen, 1469598103934665603ULL ^ (uint64_t)tag);
    scache_entry *e = &d->cache[h & (SCACHE_SIZE - 1)];
    if (e->val && e->h == h && e->len == rawlen && memcmp(e->key, raw, rawlen) == 0) {
        Py_INCREF(e->val);
        return e->val;
    }
    PyObject *s = PyUnicode_DecodeASCII(text, textlen, "replace");
    if (!s) return NULL;
    uint8_t *k = PyMem_Malloc(rawlen ? rawlen : 1);
    if (k) {
        memcpy(k, raw, rawlen);
        Py_XDECREF(e->val);
        PyMem_Free(e->key);
        e->h = h; e->len = (uint32_t)rawlen; e->key = k; e->val = s;
        Py_INCREF(s);
    }
    return s;
}

static void add_error(DecoderObject *d, unsigned long long offset, int reason, const char *detail) {
    d->skipped[reason]++;
    d->nerrors++;
    if (PyList_GET_SIZE(d->errors) >= MAX_ERRORS) return;
    char msg[256];
    if (detail && *detail) snprintf(msg, sizeof msg, "%s: %s", reason_names[reason], detail);
    else snprintf(msg, sizeof msg, "%s", reason_names[reason]);
    PyObject *t = Py_BuildValue("(Ks)", offset, msg);
    if (t) { PyList_Append(d->errors, t); Py_DECREF(t); }
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- formatting helpers ------------------------------------------------------------------------ */
static int fmt_u32(char *out, uint32_t v) {
    char tmp[12]; int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* An octet's decimal digits without division (every prefix and peer address is four of them). */
static inline int fmt_u8(char *out, unsigned v) {
    if (v >= 100) {
        unsigned h = v >= 200 ? 2 : 1, r = v - 100 * h;
        out[0] = (char)('0' + h); out[1] = (char)('0' + r / 10); out[2] = (char)('0' + r % 10);
        return 3;
    }
    if (v >= 10) { out[0] = (char)('0' + v / 10); out[1] = (char)('0' + v % 10); return 2; }
    out[0] = (char)('0' + v);
    return 1;
}

static int fmt_ip4(char *out, const uint8_t *a) {
    int n = fmt_u8(out, a[0]);
    for (int i = 1; i < 4; i++) {
        out[n++] = '.';
        n += fmt_u8(out + n, a[i]);
    }
    return n;
}

static int fmt_ip6_bgpdump(char *out, const uint8_t *a) {
    /* bgpdump's own notation (not glibc's): the longest run of zero groups is compressed even
     * when it is a single group; IPv4-mapped and -compatible addresses end in dotted quad. */
    static const char hex[] = "0123456789abcdef";
    int n = 0;
    int zero96 = 1;
    for (int i = 0; i < 10; i++) if (a[i]) zero96 = 0;
    if (zero96 && ((a[10] == 0xFF && a[11] == 0xFF) || (a[10] == 0 && a[11] == 0 && rd32(a + 12) > 1))) {
        memcpy(out, "::", 2); n = 2;
        if (a[10] == 0xFF) { memcpy(out + n, "ffff:", 5); n += 5; }
        return n + fmt_ip4(out + n, a + 12);
    }
    int zr[8], run = 0;
    for (int i = 7; i >= 0; i--) {
        if (a[2 * i] == 0 && a[2 * i + 1] == 0) run++; else run = 0;
        zr[i] = run;
    }
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8; i++) if (zr[i] > bestlen) { best = i; bestlen = zr[i]; }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            if (i == 0) out[n++] = ':';
            out[n++] = ':';
            i += bestlen - 1;
            continue;
        }
        unsigned v = (unsigned)(a[2 * i] << 8 | a[2 * i + 1]);
        int started = 0;
        for (int sh = 12; sh >= 0; sh -= 4) {
            unsigned d = (v >> sh) & 0xF;
            if (d || started || sh == 0) { out[n++] = hex[d]; started = 1; }
        }
        if (i != 7) out[n++] = ':';
    }
    out[n] = 0;
    return n;
}

/* Observations carry the canonical text form (RFC 5952, as inet_ntop prints it), the same as
 * other sources such as RIS Live; `dump -m` converts to bgpdump's notation when printing. */
static int fmt_ip6(char *out, const uint8_t *a) {
    if (!inet_ntop(AF_INET6, a, out, 64)) { strcpy(out, "::"); }
    return (int)strlen(out);
}

static int fmt_ip(char *out, const uint8_t *a, int afi) {
    return afi == 2 ? fmt_ip6(out, a) : fmt_ip4(out, a);
}

static PyObject *ip_str(const uint8_t *a, int afi) {
    char b[64];
    int n = fmt_ip(b, a, afi);
    return PyUnicode_DecodeASCII(b, n, NULL);
}

/* A prefix from NLRI bytes as text in b (80 bytes): copies `plen` bits, clears host bits (as
 * bgpdump does). Returns its length. */
static int prefix_text(char *b, const uint8_t *bytes, int plen, int afi) {
    uint8_t a[16] = {0};
    int nbytes = (plen + 7) / 8;
    memcpy(a, bytes, nbytes);
    if (plen % 8) a[nbytes - 1] &= (uint8_t)(0xFF << (8 - plen % 8));
    int n = fmt_ip(b, a, afi);
    b[n++] = '/';
    n += fmt_u32(b + n, (uint32_t)plen);
    return n;
}

static PyObject *prefix_str(const uint8_t *bytes, int plen, int afi) {
    char b[80];
    return PyUnicode_DecodeASCII(b, prefix_text(b, bytes, plen, afi), NULL);
}

/* ---- attributes ------------------------------------------------------------------------------- */
typedef struct {
    int present_origin; int origin;
    const uint8_t *aspath; int aspath_len;
    const uint8_t *as4path; int as4path_len;
    int has_nexthop; uint8_t nexthop[4];
    int has_med; uint32_t med;
    int has_lp; uint32_t lp;
    int atomic;
    int has_aggr; uint32_t aggr_as; uint8_t aggr_ip[4];
    int has_as4aggr; uint32_t as4aggr_as; uint8_t as4aggr_ip[4];
    const uint8_t *comm; int comm_len;
    const uint8_t *lcomm; int lcomm_len;
    int has_mp_reach; int mp_afi, mp_safi, mp_nh_len; uint8_t mp_nh[32];
    const uint8_t *mp_nlri; int mp_nlri_len;
    int has_mp_unreach; int mpu_afi, mpu_safi;
    const uint8_t *mpu_nlri; int mpu_nlri_len;
    char err[96];
} attrs_t;


/* Parses a path attribute block. `abbrev_mp`: TABLE_DUMP_V2 RIB entries may carry MP_REACH in the
 * abbreviated form of RFC 6396 4.3.4 (next hop only). Returns 0, or -1 with a->err set. */
static int parse_attrs(const uint8_t *p, int len, attrs_t *a, int abbrev_mp) {
    memset(a, 0, sizeof *a);
    const uint8_t *end = p + len;
    while (p < end) {
        if (end - p < 3) { snprintf(a->err, sizeof a->err, "attribute header cut short"); return -1; }
        int flags = p[0], type = p[1];
        int alen, hl;
        if (flags & 0x10) {
            if (end - p < 4) { snprintf(a->err, sizeof a->err, "attribute header cut short"); return -1; }
            alen = rd16(p + 2); hl = 4;
        } else { alen = p[2]; hl = 3; }
        const uint8_t *v = p + hl;
        if (alen > end - v) {
            snprintf(a->err, sizeof a->err, "attribute %d length %d past end of attributes", type, alen);
            return -1;
        }
        switch (type) {
        case 1: if (alen >= 1) { a->present_origin = 1; a->origin = v[0]; } break;
        case 2: a->aspath = v; a->aspath_len = alen; break;
        case 3: if (alen == 4) { a->has_nexthop = 1; memcpy(a->nexthop, v, 4); } break;
        case 4: if (alen == 4) { a->has_med = 1; a->med = rd32(v); } break;
        case 5: if (alen == 4) { a->has_lp = 1; a->lp = rd32(v); } break;
        case 6: a->atomic = 1; break;
        case 7:
            /* The ASN width follows the attribute length (6: 2-byte, 8: 4-byte), which also
             * reads router dumps that wrote 4-byte aggregators into 2-byte records. */
            if (alen == 6) { a->has_aggr = 1; a->aggr_as = rd16(v); memcpy(a->aggr_ip, v + 2, 4); }
            else if (alen == 8) { a->has_aggr = 1; a->aggr_as = rd32(v); memcpy(a->aggr_ip, v + 4, 4); }
            break;
        case 8: a->comm = v; a->comm_len = alen - alen % 4; break;
        case 14: {
            a->has_mp_reach = 1;
            if (abbrev_mp && alen >= 1 && v[0] != 0 && v[0] + 1 <= alen) {
                /* abbreviated: next hop length + next hop */
                a->mp_afi = 0; a->mp_safi = 0;
                a->mp_nh_len = v[0] > 32 ? 32 : v[0];
                memcpy(a->mp_nh, v + 1, a->mp_nh_len);
                break;
            }
            if (alen < 5) { snprintf(a->err, sizeof a->err, "MP_REACH_NLRI too short"); return -1; }
            a->mp_afi = rd16(v); a->mp_safi = v[2];
            int nhl = v[3];
            if (4 + nhl + 1 > alen) { snprintf(a->err, sizeof a->err, "MP_REACH_NLRI next hop past end"); return -1; }
            a->mp_nh_len = nhl > 32 ? 32 : nhl;
            memcpy(a->mp_nh, v + 4, a->mp_nh_len);
            int snpa = v[4 + nhl];
            const uint8_t *q = v + 5 + nhl;
            for (int i = 0; i < snpa && q < v + alen; i++) {
                int n = 1 + (q[0] + 1) / 2;   /* SNPA length is in semi-octets */
                if (n > v + alen - q) { q = v + alen; break; }
                q += n;
            }
            a->mp_nlri = q; a->mp_nlri_len = (int)(v + alen - q);
            break;
        }
        case 15:
            if (alen < 3) { snprintf(a->err, sizeof a->err, "MP_UNREACH_NLRI too short"); return -1; }
            a->has_mp_unreach = 1; a->mpu_afi = rd16(v); a->mpu_safi = v[2];
            a->mpu_nlri = v + 3; a->mpu_nlri_len = alen - 3;
            break;
        case 17: a->as4path = v; a->as4path_len = alen; break;
        case 18:
            if (alen == 8) { a->has_as4aggr = 1; a->as4aggr_as = rd32(v); memcpy(a->as4aggr_ip, v + 4, 4); }
            break;
        case 32: a->lcomm = v; a->lcomm_len = alen - alen % 12; break;
        default: break;
        }
        p = v + alen;
    }
    return 0;
}

/* AS path segments, decoded from 2- or 4-byte encodings. */
typedef struct { int type; int n; uint32_t *asns; } seg_t;
#define MAX_SEGS 512
#define MAX_ASNS 4096

typedef struct { int nseg; seg_t seg[MAX_SEGS]; uint32_t asns[MAX_ASNS]; int nasns; } path_t;

static int decode_path(const uint8_t *p, int len, int asn_len, path_t *out) {
    out->nseg = 0; out->nasns = 0;
    const uint8_t *end = p + len;
    while (p < end) {
        if (end - p < 2) return -1;
        int type = p[0], n = p[1];
        if (type < 1 || type > 4) return -1;
        if (2 + n * asn_len > end - p) return -1;
        if (out->nseg >= MAX_SEGS || out->nasns + n > MAX_ASNS) return -1;
        seg_t *s = &out->seg[out->nseg++];
        s->type = type; s->n = n; s->asns = out->asns + out->nasns;
        for (int i = 0; i < n; i++)
            s->asns[i] = asn_len == 2 ? rd16(p + 2 + 2 * i) : rd32(p + 2 + 4 * i);
        out->nasns += n;
        p += 2 + n * asn_len;
    }
    return 0;
}

/* RFC 6793 path length: AS_SET counts 1, confederation segments count 0. */
static int path_count(const path_t *pt) {
    int c = 0;
    for (int i = 0; i < pt->nseg; i++) {
        if (pt->seg[i].type == 2) c += pt->seg[i].n;
        else if (pt->seg[i].type == 1) c += 1;
    }
    return c;
}

/* Merge AS_PATH (2-byte) with AS4_PATH (RFC 6793 4.2.3): keep the leading ASNs of AS_PATH that
 * AS4_PATH does not cover, then AS4_PATH. */
static void merge_as4(const path_t *old, const path_t *as4, path_t *out) {
    int want = path_count(old) - path_count(as4);
    out->nseg = 0; out->nasns = 0;
    int have = 0;
    for (int i = 0; i < old->nseg && have < want; i++) {
        const seg_t *s = &old->seg[i];
        seg_t *d = &out->seg[out->nseg++];
        d->type = s->type; d->asns = out->asns + out->nasns;
        int take = s->n;
        if (s->type == 2 && have + take > want) take = want - have;
        memcpy(d->asns, s->asns, take * sizeof(uint32_t));
        d->n = take; out->nasns += take;
        if (s->type == 2) have += take; else if (s->type == 1) have += 1;
    }
    for (int i = 0; i < as4->nseg && out->nseg < MAX_SEGS; i++) {
        const seg_t *s = &as4->seg[i];
        if (out->nasns + s->n > MAX_ASNS) break;
        seg_t *d = &out->seg[out->nseg++];
        d->type = s->type; d->n = s->n; d->asns = out->asns + out->nasns;
        memcpy(d->asns, s->asns, s->n * sizeof(uint32_t));
        out->nasns += s->n;
    }
}

/* bgpdump notation: sequences space separated, {set}, (confed seq), [confed set]. */
static int format_path(const path_t *pt, char *out, int cap) {
    int n = 0;
    for (int i = 0; i < pt->nseg; i++) {
        const seg_t *s = &pt->seg[i];
        if (n + 16 > cap) break;
        if (i) out[n++] = ' ';
        char open = 0, close = 0, sep = ' ';
        if (s->type == 1) { open = '{'; close = '}'; sep = ','; }
        else if (s->type == 3) { open = '('; close = ')'; }
        else if (s->type == 4) { open = '['; close = ']'; sep = ','; }
        if (open) out[n++] = open;
        for (int j = 0; j < s->n; j++) {
            if (n + 14 > cap) break;
            if (j) out[n++] = sep;
            n += fmt_u32(out + n, s->asns[j]);
        }
        if (close) out[n++] = close;
    }
    return n;
}

/* Python objects shared by all routes of one attribute block. */
typedef struct {
    PyObject *as_path, *origin, *next_hop, *local_pref, *med, *communities, *lcommunities;
    PyObject *atomic, *aggregator;
} attrobjs_t;

static void attrobjs_clear(attrobjs_t *o) {
    Py_CLEAR(o->as_path); Py_CLEAR(o->origin); Py_CLEAR(o->next_hop); Py_CLEAR(o->local_pref);
    Py_CLEAR(o->med); Py_CLEAR(o->communities); Py_CLEAR(o->lcommunities); Py_CLEAR(o->atomic);
    Py_CLEAR(o->aggregator);
}

static path_t path_a, path_b, path_m; /* scratch (module is not re-entrant: the GIL is held) */

static PyObject *make_as_path(DecoderObject *d, const attrs_t *a, int asn_len) {
    if (!a->aspath) Py_RETURN_NONE;
    /* cache key: asn_len + AS_PATH + AS4_PATH raw bytes */
    uint8_t key[8192];
    size_t klen = 0;
    if ((size_t)a->aspath_len + a->as4path_len + 2 < sizeof key) {
        key[klen++] = (uint8_t)asn_len;
        memcpy(key + klen, a->aspath, a->aspath_len); klen += a->aspath_len;
        key[klen++] = 0xEE;
        if (a->as4path && asn_len == 2) { memcpy(key + klen, a->as4path, a->as4path_len); klen += a->as4path_len; }
        uint64_t h = fnv1a(key, klen, 1469598103934665603ULL ^ 1);
        scache_entry *e = &d->cache[h & (SCACHE_SIZE - 1)];
        if (e->val && e->h == h && e->len == klen && memcmp(e->key, key, klen) == 0) {
            Py_INCREF(e->val);
            return e->val;
        }
    } else klen = 0;
    const path_t *use = &path_a;
    if (decode_path(a->aspath, a->aspath_len, asn_len, &path_a) < 0) return NULL; /* caller: bad attribute */
    if (asn_len == 2 && a->as4path && decode_path(a->as4path, a->as4path_len, 4, &path_b) == 0) {
        /* RFC 6793 section 6: confederation segments of AS4_PATH are discarded and the rest is
         * merged. (bgpdump drops the whole AS4_PATH instead and prints AS_TRANS, 23456: this is the
         * one deliberate difference of `dump -m` from bgpdump; see docs/data.md.) */
        int k = 0;
        for (int i = 0; i < path_b.nseg; i++)
            if (path_b.seg[i].type <= 2) path_b.seg[k++] = path_b.seg[i];
        path_b.nseg = k;
        if (path_count(&path_a) >= path_count(&path_b)) { merge_as4(&path_a, &path_b, &path_m); use = &path_m; }
    }
    static char buf[MAX_ASNS * 12];
    int n = format_path(use, buf, sizeof buf);
    if (klen) return cached_str(d, 1, key, klen, buf, n);
    return PyUnicode_DecodeASCII(buf, n, NULL);
}

static PyObject *make_communities(DecoderObject *d, const uint8_t *v, int len) {
    if (!v) Py_RETURN_NONE;
    static char buf[65536 * 3];
    int n = 0;
    for (int i = 0; i + 4 <= len && n < (int)sizeof buf - 32; i += 4) {
        uint32_t c = rd32(v + i);
        if (n) buf[n++] = ' ';
        if (c == 0xFFFFFF01) { memcpy(buf + n, "no-export", 9); n += 9; }
        else if (c == 0xFFFFFF02) { memcpy(buf + n, "no-advertise", 12); n += 12; }
        else if (c == 0xFFFFFF03) { memcpy(buf + n, "local-AS", 8); n += 8; }
        else { n += fmt_u32(buf + n, c >> 16); buf[n++] = ':'; n += fmt_u32(buf + n, c & 0xFFFF); }
    }
    return cached_str(d, 2, v, len, buf, n);
}

static PyObject *make_lcommunities(DecoderObject *d, const uint8_t *v, int len) {
    if (!v) Py_RETURN_NONE;
    static char buf[65536 * 3];
    int n = 0;
    for (int i = 0; i + 12 <= len && n < (int)sizeof buf - 40; i += 12) {
        if (n) buf[n++] = ' ';
        n += fmt_u32(buf + n, rd32(v + i)); buf[n++] = ':';
        n += fmt_u32(buf + n, rd32(v + i + 4)); buf[n++] = ':';
        n += fmt_u32(buf + n, rd32(v + i + 8));
    }
    return cached_str(d, 3, v, len, buf, n);
}

/* mp: 0 = use NEXT_HOP; 1 = use the MP_REACH next hop. */
static int build_attrobjs(DecoderObject *d, const attrs_t *a, int asn_len, int use_mp_nh, attrobjs_t *o) {
    memset(o, 0, sizeof *o);
    o->as_path = make_as_path(d, a, asn_len);
    if (!o->as_path) { PyErr_Clear(); return -1; }
    if (d->col) {
        /* column mode keeps a route's AS path only: the other attributes are not made */
        PyObject **rest[] = {&o->origin, &o->next_hop, &o->local_pref, &o->med, &o->communities,
                             &o->lcommunities, &o->atomic, &o->aggregator};
        for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) { Py_INCREF(Py_None); *rest[i] = Py_None; }
        return 0;
    }
    if (!a->present_origin) { o->origin = Py_None; }
    else o->origin = a->origin == 0 ? S_IGP : a->origin == 1 ? S_EGP : S_INCOMPLETE;
    Py_INCREF(o->origin);
    char b[64];
    if (use_mp_nh && a->has_mp_reach && a->mp_nh_len) {
        uint8_t key[33]; key[0] = (uint8_t)a->mp_nh_len; memcpy(key + 1, a->mp_nh, a->mp_nh_len);
        int n = a->mp_nh_len == 4 ? fmt_ip4(b, a->mp_nh) : a->mp_nh_len >= 16 ? fmt_ip6(b, a->mp_nh) : 0;
        o->next_hop = n ? cached_str(d, 4, key, 1 + a->mp_nh_len, b, n) : (Py_INCREF(Py_None), Py_None);
    } else if (a->has_nexthop) {
        uint8_t key[5]; key[0] = 4; memcpy(key + 1, a->nexthop, 4);
        o->next_hop = cached_str(d, 4, key, 5, b, fmt_ip4(b, a->nexthop));
    } else { o->next_hop = Py_None; Py_INCREF(Py_None); }
    if (!o->next_hop) return -1;
    o->local_pref = a->has_lp ? PyLong_FromUnsignedLong(a->lp) : (Py_INCREF(Py_None), Py_None);
    o->med = a->has_med ? PyLong_FromUnsignedLong(a->med) : (Py_INCREF(Py_None), Py_None);
    o->communities = make_communities(d, a->comm, a->comm_len);
    o->lcommunities = make_lcommunities(d, a->lcomm, a->lcomm_len);
    o->atomic = a->atomic ? Py_True : Py_False; Py_INCREF(o->atomic);
    if (a->has_aggr) {
        uint32_t as = a->aggr_as; const uint8_t *ip = a->aggr_ip;
        if (as == 23456 && a->has_as4aggr && asn_len == 2) { as = a->as4aggr_as; ip = a->as4aggr_ip; }
        int n = fmt_u32(b, as); b[n++] = ' '; n += fmt_ip4(b + n, ip);
        o->aggregator = PyUnicode_DecodeASCII(b, n, NULL);
    } else { o->aggregator = Py_None; Py_INCREF(Py_None); }
    if (!o->local_pref || !o->med || !o->communities || !o->lcommunities || !o->aggregator) return -1;
    return 0;
}

/* ---- column mode: routes as packed columns, no Python object per route ----------------------- */
/* For bulk consumers that need only a route's kind, time, offset, peer, prefix, ADD-PATH id and AS
 * path (the store's ingest): one Observation per route costs more to make and free than decoding
 * it. Rows are in stream order; a state change is a row of kind 3 whose Observation is kept. */
/* A growable byte buffer (the column buffers here, dump -m's output below). */
typedef struct { char *p; size_t n, cap; } outbuf;

/* Room for `extra` more bytes after the n used. */
static int ob_reserve(outbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + extra) cap *= 2;
    char *np = PyMem_Realloc(b->p, cap);
    if (!np) { PyErr_NoMemory(); return -1; }
    b->p = np; b->cap = cap;
    return 0;
}

#define COL_RECENT 8
typedef struct colbuf_s {
    Py_ssize_t rows;
    size_t cap;                          /* rows the fixed-size columns have room for */
    /* fixed-size columns: `rows` items each (their n stays 0); pfx_off has rows + 1 */
    outbuf kind, time, offset, peer, pfx_off, path_id, path;
    outbuf pfx;                          /* the prefix texts, one after another */
    PyObject *peers;                     /* list of (peer_ip, peer_asn) a row's peer indexes */
    PyObject *paths;                     /* list of AS path objects (str or None) a row's path indexes */
    PyObject *others;                    /* list of (row, Observation): the state changes */
    PyObject *last_path; int32_t last_path_idx;
    int32_t recent[COL_RECENT]; int nrecent;   /* peer indexes last used, newest first */
} colbuf_t;

/* Room for twice the rows in every fixed-size column. */
static int col_grow(colbuf_t *c) {
    size_t rows = c->cap ? 2 * c->cap : 1024;
    if (ob_reserve(&c->kind, rows) < 0 || ob_reserve(&c->time, 8 * rows) < 0 || ob_reserve(&c->offset, 8 * rows) < 0
        || ob_reserve(&c->peer, 4 * rows) < 0 || ob_reserve(&c->pfx_off, 4 * (rows + 1)) < 0
        || ob_reserve(&c->path_id, 8 * rows) < 0 || ob_reserve(&c->path, 4 * rows) < 0)
        return -1;
    c->cap = rows;
    return 0;
}

static void col_reset(colbuf_t *c) {
    c->rows = 0;
    c->pfx.n = 0;
    Py_CLEAR(c->peers); Py_CLEAR(c->paths); Py_CLEAR(c->others);
    c->last_path = NULL; c->last_path_idx = -1; c->nrecent = 0;
}

static void col_free(colbuf_t *c) {
    if (!c) return;
    col_reset(c);
    PyMem_Free(c->kind.p); PyMem_Free(c->time.p); PyMem_Free(c->offset.p); PyMem_Free(c->peer.p);
    PyMem_Free(c->pfx_off.p); PyMem_Free(c->pfx.p); PyMem_Free(c->path_id.p); PyMem_Free(c->path.p);
    PyMem_Free(c);
}

static int col_start(colbuf_t *c) {
    col_reset(c);
    c->peers = PyList_New(0); c->paths = PyList_New(0); c->others = PyList_New(0);
    if (!c->peers || !c->paths || !c->others || (!c->cap && col_grow(c) < 0)) return -1;
    ((int32_t *)c->pfx_off.p)[0] = 0;
    return 0;
}

/* The index of (ip, asn) in c->peers: one of the few last used (by identity, then by value: a
 * BGP4MP record makes a new str for its peer), else a new entry. */
static int32_t col_peer(colbuf_t *c, PyObject *ip, PyObject *asn) {
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < c->nrecent; j++) {
            PyObject *e = PyList_GET_ITEM(c->peers, c->recent[j]);
            PyObject *eip = PyTuple_GET_ITEM(e, 0), *easn = PyTuple_GET_ITEM(e, 1);
            int same = pass == 0 ? (eip == ip && easn == asn)
                                 : (PyUnicode_Compare(eip, ip) == 0 && PyObject_RichCompareBool(easn, asn, Py_EQ) == 1);
            if (PyErr_Occurred()) return -1;
            if (same) {
                int32_t idx = c->recent[j];
                memmove(c->recent + 1, c->recent, (size_t)j * sizeof(int32_t));
                c->recent[0] = idx;
                return idx;
            }
        }
    }
    PyObject *e = PyTuple_Pack(2, ip, asn);
    if (!e || PyList_Append(c->peers, e) < 0) { Py_XDECREF(e); return -1; }
    Py_DECREF(e);
    int32_t idx = (int32_t)(PyList_GET_SIZE(c->peers) - 1);
    int keep = c->nrecent < COL_RECENT ? c->nrecent : COL_RECENT - 1;
    memmove(c->recent + 1, c->recent, (size_t)keep * sizeof(int32_t));
    c->recent[0] = idx;
    c->nrecent = keep + 1;
    return idx;
}

/* A row: kind code, time, offset, peer; the prefix's text (n bytes), ADD-PATH id and AS path of a
 * route ("", NULL, NULL for a state change). */
static int col_row(colbuf_t *c, int8_t kind, PyObject *time, PyObject *offset, PyObject *ip, PyObject *asn,
                   const char *text, Py_ssize_t n, PyObject *path_id, PyObject *as_path) {
    double t = PyFloat_AsDouble(time);
    int64_t off = offset == Py_None ? -1 : PyLong_AsLongLong(offset);
    int64_t pid = !path_id || path_id == Py_None ? -1 : PyLong_AsLongLong(path_id);
    if (PyErr_Occurred()) return -1;
    int32_t peer = col_peer(c, ip, asn);
    if (peer < 0) return -1;
    int32_t path = -1;
    if (kind == 0 || kind == 2) {
        if (as_path != c->last_path || c->last_path_idx < 0) {
            if (PyList_Append(c->paths, as_path) < 0) return -1;
            c->last_path = as_path;
            c->last_path_idx = (int32_t)(PyList_GET_SIZE(c->paths) - 1);
        }
        path = c->last_path_idx;
    }
    if (n) {  /* a state change has no prefix (and the buffer may not exist yet) */
        if (ob_reserve(&c->pfx, (size_t)n) < 0) return -1;
        memcpy(c->pfx.p + c->pfx.n, text, (size_t)n);
        c->pfx.n += (size_t)n;
    }
    if ((size_t)c->rows == c->cap && col_grow(c) < 0) return -1;
    size_t r = (size_t)c->rows;
    ((int8_t *)c->kind.p)[r] = kind;
    ((double *)c->time.p)[r] = t;
    ((int64_t *)c->offset.p)[r] = off;
    ((int32_t *)c->peer.p)[r] = peer;
    ((int32_t *)c->pfx_off.p)[r + 1] = (int32_t)c->pfx.n;
    ((int64_t *)c->path_id.p)[r] = pid;
    ((int32_t *)c->path.p)[r] = path;
    c->rows++;
    return 0;
}

/* A state change: a row of kind 3, and its Observation kept in c->others. */
static int col_state(colbuf_t *c, PyObject *o) {
    ObsObject *ob = (ObsObject *)o;
    PyObject *row = PyLong_FromSsize_t(c->rows);
    PyObject *pair = row ? PyTuple_Pack(2, row, o) : NULL;
    Py_XDECREF(row);
    if (!pair || PyList_Append(c->others, pair) < 0) { Py_XDECREF(pair); return -1; }
    Py_DECREF(pair);
    return col_row(c, 3, ob->time, ob->offset, ob->peer_ip, ob->peer_asn, "", 0, NULL, NULL);
}

/* A state-change Observation made by a decoder: into the list, or a row in column mode. */
static int append_other(DecoderObject *d, PyObject *o) {
    if (d->col) return col_state(d->col, o);
    return PyList_Append(d->out, o);
}

static PyObject *col_take(colbuf_t *c) {
    Py_ssize_t n = c->rows;
#define B(b, size) PyBytes_FromStringAndSize((b).p, (size))
    PyObject *r = Py_BuildValue("(nNNNNONNNNOO)", n, B(c->kind, n), B(c->time, 8 * n), B(c->offset, 8 * n),
                                B(c->peer, 4 * n), c->peers, B(c->pfx_off, 4 * (n + 1)),
                                B(c->pfx, (Py_ssize_t)c->pfx.n), B(c->path_id, 8 * n), B(c->path, 4 * n),
                                c->paths, c->others);
#undef B
    return r;
}

/* Column mode's emit: a route as a row (its prefix as text), or counted out by the SAFI selection. */
static int emit_row(DecoderObject *d, PyObject *time, PyObject *kind, PyObject *peer_ip, PyObject *peer_asn,
                    const char *text, Py_ssize_t n, const attrobjs_t *ao, PyObject *path_id, PyObject *offset) {
    if (d->safi_sel > 0 && d->cur_safi != d->safi_sel) {
        d->safi_filtered++;
        return 0;
    }
    int8_t k = kind == K_ANNOUNCE ? 0 : kind == K_WITHDRAW ? 1 : 2;
    if (col_row(d->col, k, time, offset, peer_ip, peer_asn, text, n, path_id, ao ? ao->as_path : Py_None) < 0)
        return -1;
    d->routes++;
    return 0;
}

/* Creates one Observation and appends it to d->out. Borrowed references except `prefix` and
 * `path_id`, which are stolen. */
static int emit(DecoderObject *d, PyObject *time, PyObject *kind, PyObject *peer_ip, PyObject *peer_asn,
                PyObject *prefix, const attrobjs_t *ao, PyObject *path_id, PyObject *record_type,
                PyObject *offset, PyObject *originated) {
    if (d->safi_sel > 0 && d->cur_safi != d->safi_sel) {
        /* another SAFI's route: kept out (counted), e.g. multicast routes out of unicast state */
        d->safi_filtered++;
        Py_XDECREF(prefix); Py_XDECREF(path_id);
        return 0;
    }
    if (d->col) {
        Py_ssize_t n = 0;
        const char *text = prefix && prefix != Py_None ? PyUnicode_AsUTF8AndSize(prefix, &n) : "";
        int r = text ? emit_row(d, time, kind, peer_ip, peer_asn, text, n, ao, path_id, offset) : -1;
        Py_XDECREF(prefix); Py_XDECREF(path_id);
        return r;
    }
    ObsObject *o = (ObsObject *)obs_type->tp_alloc(obs_type, 0);
    if (!o) { Py_XDECREF(prefix); Py_XDECREF(path_id); return -1; }
#define SET(f, v) do { PyObject *_v = (v) ? (v) : Py_None; Py_INCREF(_v); o->f = _v; } while (0)
    SET(time, time); SET(kind, kind); SET(peer_ip, peer_ip); SET(peer_asn, peer_asn);
    o->prefix = prefix ? prefix : (Py_INCREF(Py_None), Py_None);
    if (ao) {
        SET(as_path, ao->as_path); SET(origin, ao->origin); SET(next_hop, ao->next_hop);
        SET(local_pref, ao->local_pref); SET(med, ao->med); SET(communities, ao->communities);
        SET(large_communities, ao->lcommunities); SET(atomic_aggregate, ao->atomic);
        SET(aggregator, ao->aggregator);
    } else {
        SET(as_path, NULL); SET(origin, NULL); SET(next_hop, NULL); SET(local_pref, NULL); SET(med, NULL);
        SET(communities, NULL); SET(large_communities, NULL); Py_INCREF(Py_False); o->atomic_aggregate = Py_False;
        SET(aggregator, NULL);
    }
    o->path_id = path_id ? path_id : (Py_INCREF(Py_None), Py_None);
    o->safi = PyLong_FromLong(d->cur_safi);   /* small ints are cached: no allocation */
    SET(old_state, NULL); SET(new_state, NULL); SET(originated, originated);
    SET(record_type, record_type); SET(collector, d->collector); SET(source, d->source);
    SET(offset, offset);
#undef SET
    int r = PyList_Append(d->out, (PyObject *)o);
    Py_DECREF(o);
    if (r == 0) d->routes++;
    return r;
}

/* Walks an NLRI list, emitting one observation per prefix. Returns 0, or -1 on a Python error;
 * sets *bad when the list is malformed (the prefixes before the damage are kept). */
/* Does the NLRI list parse exactly (every prefix length valid, no bytes left over)? */
static int nlri_valid(const uint8_t *p, int len, int afi, int addpath) {
    const uint8_t *end = p + len;
    int maxlen = afi == 2 ? 128 : 32;
    while (p < end) {
        if (addpath) { if (end - p < 5) return 0; p += 4; }
        int plen = p[0];
        if (plen > maxlen || 1 + (plen + 7) / 8 > end - p) return 0;
        p += 1 + (plen + 7) / 8;
    }
    return 1;
}

/* ---- selection (Decoder.set_select): the filters of `transitwatch dump` / tw.routes -------------------
 * Tested before any Python object of a route is built. It only has to keep a superset of what the
 * caller wants (the caller re-checks every kept observation exactly), so a case it cannot judge
 * cheaply passes. Kinds: 1 announce, 2 RIB entry, 4 withdrawal, 8 state change. */
typedef struct { int afi; uint8_t a[16]; int plen; } selpfx_t;
typedef struct select_s {
    double lo, hi;                                   /* record time in [lo, hi) */
    int kinds;
    uint32_t *peers; int npeers;
    uint32_t *origins; int norigins;
    selpfx_t *pfx[3]; int npfx[3];                   /* exact, less-specific (super), more-specific (sub) */
} select_t;

static int bits_equal(const uint8_t *a, const uint8_t *b, int bits) {
    int full = bits / 8, rem = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0) return 0;
    return !rem || !((a[full] ^ b[full]) & (0xFF << (8 - rem)) & 0xFF);
}

static int sel_u32(const uint32_t *set, int n, uint32_t v) {
    for (int i = 0; i < n; i++) if (set[i] == v) return 1;
    return 0;
}

static int sel_peer(const select_t *s, uint32_t asn) { return !s->npeers || sel_u32(s->peers, s->npeers, asn); }

/* kind allowed and the prefix in every given prefix list */
static int sel_prefix(const select_t *s, int kind, const uint8_t *bytes, int plen, int afi) {
    if (!(s->kinds & kind)) return 0;
    if (!(s->npfx[0] | s->npfx[1] | s->npfx[2])) return 1;
    uint8_t a[16] = {0};
    memcpy(a, bytes, (size_t)(plen + 7) / 8);
    for (int k = 0; k < 3; k++) {
        if (!s->npfx[k]) continue;
        int hit = 0;
        for (int i = 0; i < s->npfx[k] && !hit; i++) {
            const selpfx_t *f = &s->pfx[k][i];
            if (f->afi != afi) continue;
            if (k == 0) hit = plen == f->plen && bits_equal(a, f->a, plen);
            else if (k == 1) hit = plen <= f->plen && bits_equal(a, f->a, plen);
            else hit = plen >= f->plen && bits_equal(a, f->a, f->plen);
        }
        if (!hit) return 0;
    }
    return 1;
}

/* Could the path's origin (its last segment; an AS_SET counts each member) be one of the origins? */
static int sel_origin(const select_t *s, const attrs_t *a, int asn_len) {
    if (!s->norigins) return 1;
    if (!a->aspath && !a->as4path) return 0;
    const uint8_t *raw[2] = {a->aspath, a->as4path};
    int len[2] = {a->aspath_len, a->as4path_len}, width[2] = {asn_len, 4};
    for (int k = 0; k < 2; k++) {
        if (!raw[k]) continue;
        if (decode_path(raw[k], len[k], width[k], &path_b) < 0 || !path_b.nseg) return 1;  /* caller decides */
        const seg_t *last = &path_b.seg[path_b.nseg - 1];
        for (int i = 0; i < last->n; i++) if (sel_u32(s->origins, s->norigins, last->asns[i])) return 1;
    }
    return 0;
}

/* Would any prefix of this NLRI list be kept? (skips building attribute objects when none would) */
static int sel_nlri_any(const select_t *s, int kind, const uint8_t *p, int len, int afi, int addpath) {
    if (len && !nlri_valid(p, len, afi, addpath) && nlri_valid(p, len, afi, !addpath)) addpath = !addpath;
    const uint8_t *end = p + len;
    while (p < end) {
        if (addpath) { if (end - p < 5) return 1; p += 4; }
        int plen = p[0], nbytes = (plen + 7) / 8;
        if (plen > (afi == 2 ? 128 : 32) || 1 + nbytes > end - p) return 1;  /* let emit_nlri report it */
        if (sel_prefix(s, kind, p + 1, plen, afi)) return 1;
        p += 1 + nbytes;
    }
    return 0;
}

static void sel_free(select_t *s) {
    if (!s) return;
    PyMem_Free(s->peers); PyMem_Free(s->origins);
    for (int k = 0; k < 3; k++) PyMem_Free(s->pfx[k]);
    PyMem_Free(s);
}

/* Is this prefix inside (or equal to) one of the filter's prefixes? */
static int prefix_selected(DecoderObject *d, const uint8_t *bytes, int plen, int afi) {
    uint8_t a[16] = {0};
    memcpy(a, bytes, (plen + 7) / 8);
    for (int i = 0; i < d->f_npfx; i++) {
        const struct fpfx *f = &d->f_pfx[i];
        if (f->afi != afi || plen < f->plen) continue;
        int full = f->plen / 8, rem = f->plen % 8;
        if (memcmp(a, f->a, full) != 0) continue;
        if (rem && ((a[full] ^ f->a[full]) & (0xFF << (8 - rem)) & 0xFF)) continue;
        return 1;
    }
    return 0;
}

/* Does the AS path (or AS4_PATH) contain one of the filter's ASNs? */
static int path_selected(DecoderObject *d, const attrs_t *a, int asn_len) {
    if (a->aspath && decode_path(a->aspath, a->aspath_len, asn_len, &path_a) == 0)
        for (int i = 0; i < path_a.nasns; i++)
            for (int j = 0; j < d->f_nasns; j++) if (path_a.asns[i] == d->f_asns[j]) return 1;
    if (a->as4path && decode_path(a->as4path, a->as4path_len, 4, &path_a) == 0)
        for (int i = 0; i < path_a.nasns; i++)
            for (int j = 0; j < d->f_nasns; j++) if (path_a.asns[i] == d->f_asns[j]) return 1;
    return 0;
}

/* Is the path's origin (last AS of its final AS_SEQUENCE; AS4_PATH first) one of the filter's ASNs? */
static int origin_selected(DecoderObject *d, const attrs_t *a, int asn_len) {
    int ok = -1;
    if (a->as4path) ok = decode_path(a->as4path, a->as4path_len, 4, &path_a);
    if (ok != 0 && a->aspath) ok = decode_path(a->aspath, a->aspath_len, asn_len, &path_a);
    if (ok != 0 || !path_a.nseg) return 0;
    const seg_t *last = &path_a.seg[path_a.nseg - 1];
    if (last->type != 2 || !last->n) return 0;
    for (int j = 0; j < d->f_nasns; j++) if (last->asns[last->n - 1] == d->f_asns[j]) return 1;
    return 0;
}

/* Would any announcement of this NLRI list pass the prefix filter? If none would, the caller skips
 * building the attribute objects and counts the list as filtered. */
static int nlri_any_selected(DecoderObject *d, const uint8_t *p, int len, int afi, int addpath) {
    if (len && !nlri_valid(p, len, afi, addpath) && nlri_valid(p, len, afi, !addpath)) addpath = !addpath;
    const uint8_t *end = p + len;
    int n = 0;
    while (p < end) {
        if (addpath) { if (end - p < 5) return 1; p += 4; }
        int plen = p[0], nbytes = (plen + 7) / 8;
        if (plen > (afi == 2 ? 128 : 32) || 1 + nbytes > end - p) return 1;  /* let emit_nlri report it */
        if (prefix_selected(d, p + 1, plen, afi) || ps_has(d->sticky, afi, plen, p + 1) ||
            ps_covered(d->own, afi, plen, p + 1)) return 1;
        n++;
        p += 1 + nbytes;
    }
    d->filtered += (unsigned long long)n;
    return 0;
}

static int emit_nlri(DecoderObject *d, const uint8_t *p, int len, int afi, int addpath, PyObject *time,
                     PyObject *kind, PyObject *peer_ip, PyObject *peer_asn, const attrobjs_t *ao,
                     PyObject *rtype, PyObject *offset, int *bad) {
    const uint8_t *end = p + len;
    /* Some routers (BIRD 1.6) write ADD-PATH encoded NLRI into records whose subtype says plain,
     * and the other way round. When only the other encoding parses exactly, use it: this keeps
     * routes that a strict reading would garble or lose. */
    if (len && !nlri_valid(p, len, afi, addpath) && nlri_valid(p, len, afi, !addpath)) {
        addpath = !addpath;
        d->addpath_guessed++;
    }
    int maxlen = afi == 2 ? 128 : 32;
    while (p < end) {
        PyObject *pid = NULL;
        if (addpath) {
            if (end - p < 5) { *bad = 1; return 0; }
            pid = PyLong_FromUnsignedLong(rd32(p));
            p += 4;
        }
        int plen = p[0];
        int nbytes = (plen + 7) / 8;
        if (plen > maxlen || 1 + nbytes > end - p) { Py_XDECREF(pid); *bad = 1; return 0; }
        if (d->sel && !sel_prefix(d->sel, kind == K_ANNOUNCE ? 1 : 4, p + 1, plen, afi)) {
            Py_XDECREF(pid); d->filtered++; p += 1 + nbytes; continue;
        }
        if (kind == K_ANNOUNCE && d->ann_mode == 1 && !prefix_selected(d, p + 1, plen, afi) &&
            !ps_has(d->sticky, afi, plen, p + 1) && !ps_covered(d->own, afi, plen, p + 1)) {
            Py_XDECREF(pid);
            d->filtered++;
            p += 1 + nbytes;
            continue;
        }
        if (kind == K_ANNOUNCE && d->ann_mode == 3 && ps_add(d->sticky, afi, plen, p + 1) < 0) {
            Py_XDECREF(pid);
            return -1;
        }
        if (kind == K_ANNOUNCE && d->ann_mode == 3 && d->ann_own && ps_add(d->own, afi, plen, p + 1) < 0) {
            Py_XDECREF(pid);
            return -1;
        }
        if (d->col) {
            /* column mode: the prefix's text goes straight into the buffer (no str a route) */
            char b[80];
            int r = emit_row(d, time, kind, peer_ip, peer_asn, b, prefix_text(b, p + 1, plen, afi), ao, pid, offset);
            Py_XDECREF(pid);
            if (r < 0) return -1;
            p += 1 + nbytes;
            continue;
        }
        PyObject *pfx = prefix_str(p + 1, plen, afi);
        if (!pfx) { Py_XDECREF(pid); return -1; }
        if (emit(d, time, kind, peer_ip, peer_asn, pfx, ao, pid, rtype, offset, NULL) < 0) return -1;
        p += 1 + nbytes;
    }
    return 0;
}

static PyObject *make_time(uint32_t ts, long usec, int et) {
    return PyFloat_FromDouble(et ? (double)ts + (double)usec / 1e6 : (double)ts);
}

/* ---- record decoders: return 0 ok, -1 Python error, >0 skip reason + 1 ------------------------- */
#define SKIP(r) return (r) + 1

/* SAFIs whose NLRI is a plain prefix list (RFC 4760): unicast and multicast. Others (MPLS labels,
 * VPN route distinguishers, flow specs...) have their own NLRI formats: they are counted by SAFI
 * and not decoded, rather than misread as prefixes. */
static int safi_plain(int safi) { return safi == 1 || safi == 2; }

static const char *safi_name(int safi) {
    switch (safi) {
    case 3: return "unicast+multicast, deprecated"; case 4: return "MPLS labels";
    case 5: return "multicast VPN"; case 64: return "tunnel"; case 65: return "VPLS";
    case 66: return "MDT"; case 70: return "EVPN"; case 71: return "BGP-LS";
    case 73: return "SR TE policy"; case 128: return "MPLS-labeled VPN";
    case 129: return "multicast MPLS-labeled VPN"; case 132: return "route target constraint";
    case 133: return "flow specification"; case 134: return "VPN flow specification";
    default: return "unknown";
    }
}

/* BGP4MP_ENTRY (subtype 2, deprecated; OpenBGPD's "table-mp" RIB dumps): one RIB entry with its
 * own next hop and prefix. bgpdump does not implement it; the routes are real, so we decode them. */
static int decode_bgp4mp_entry(DecoderObject *d, uint32_t ts, const uint8_t *p, int len, PyObject *offset,
                               char *detail) {
    const uint8_t *end = p + len;
    if (len < 8) SKIP(R_MALFORMED);
    uint32_t peer_as = rd16(p);
    int afi = rd16(p + 6);
    int iplen = afi == 1 ? 4 : afi == 2 ? 16 : 0;
    if (!iplen) { snprintf(detail, 64, "AFI %d", afi); SKIP(R_UNSUPPORTED_AFI); }
    const uint8_t *peer = p + 8;
    /* addresses, then view (2), status (2), time last changed (4), AFI (2), SAFI (1), next hop
     * length (1): 12 bytes read after the addresses (10 were checked once: an overread) */
    if (len < 8 + 2 * iplen + 12) SKIP(R_MALFORMED);
    p += 8 + 2 * iplen;
    uint32_t changed = rd32(p + 4);
    int pafi = rd16(p + 8), psafi = p[10];
    int nhl = p[11];
    p += 12;
    if (nhl + 1 > end - p || (pafi != 1 && pafi != 2)) SKIP(R_MALFORMED);
    if (!safi_plain(psafi)) { d->unsup_safi[psafi]++; return 0; }
    d->cur_safi = psafi;
    const uint8_t *nh = p;
    p += nhl;
    int plen = p[0];
    if (plen > (pafi == 2 ? 128 : 32) || 1 + (plen + 7) / 8 + 2 > end - p) SKIP(R_BAD_PREFIX);
    const uint8_t *pfxb = p + 1;
    p += 1 + (plen + 7) / 8;
    int alen = rd16(p);
    if (2 + alen > end - p) SKIP(R_MALFORMED);
    attrs_t A;
    if (parse_attrs(p + 2, alen, &A, 0) < 0) { snprintf(detail, 96, "%s", A.err); SKIP(R_BAD_ATTRIBUTE); }
    if (d->sel && (!sel_peer(d->sel, peer_as) || !sel_prefix(d->sel, 2, pfxb, plen, pafi) || !sel_origin(d->sel, &A, 2)))
        return 0;
    if (!A.has_nexthop && nhl == 4) { A.has_nexthop = 1; memcpy(A.nexthop, nh, 4); }
    if (!A.has_mp_reach && (nhl == 16 || nhl == 32)) { A.has_mp_reach = 1; A.mp_nh_len = 16; memcpy(A.mp_nh, nh, 16); }
    attrobjs_t O;
    if (build_attrobjs(d, &A, 2, nhl != 4, &O) < 0) {
        attrobjs_clear(&O);
        if (PyErr_Occurred()) return -1;
        SKIP(R_BAD_ATTRIBUTE);
    }
    PyObject *time = PyFloat_FromDouble((double)ts);
    PyObject *pip = ip_str(peer, afi);
    PyObject *pasn = PyLong_FromUnsignedLong(peer_as);
    PyObject *og = PyLong_FromUnsignedLong(changed);
    PyObject *pfx = prefix_str(pfxb, plen, pafi);
    int rc;
    if (!time || !pip || !pasn || !og || !pfx) { Py_XDECREF(pfx); rc = -1; }
    else rc = emit(d, time, K_RIB, pip, pasn, pfx, &O, NULL, L_BGP4MP_ENTRY, offset, og);
    attrobjs_clear(&O);
    Py_XDECREF(time); Py_XDECREF(pip); Py_XDECREF(pasn); Py_XDECREF(og);
    return rc;
}

static int decode_bgp4mp(DecoderObject *d, uint32_t ts, int type, int subtype, const uint8_t *p, int len,
                         PyObject *offset, char *detail) {
    int et = type == 17;
    long usec = 0;
    if (et) { if (len < 4) SKIP(R_MALFORMED); usec = (long)rd32(p); p += 4; len -= 4; }
    const uint8_t *end = p + len;
    int is_state = subtype == 0 || subtype == 5;
    int asn_len = (subtype == 4 || subtype == 5 || subtype == 7 || subtype == 9 || subtype == 11) ? 4 : 2;
    int local = subtype == 6 || subtype == 7 || subtype == 10 || subtype == 11;
    int addpath = subtype >= 8 && subtype <= 11;
    if (subtype == 2) return decode_bgp4mp_entry(d, ts, p, len, offset, detail);
    if (!(is_state || subtype == 1 || subtype == 4 || (subtype >= 6 && subtype <= 11))) SKIP(R_UNKNOWN_TYPE);
    if (end - p < 2 * asn_len + 4) SKIP(R_MALFORMED);
    uint32_t as1 = asn_len == 4 ? rd32(p) : rd16(p);
    uint32_t as2 = asn_len == 4 ? rd32(p + asn_len) : rd16(p + asn_len);
    p += 2 * asn_len;
    int afi = rd16(p + 2);
    p += 4;
    int iplen = afi == 1 ? 4 : afi == 2 ? 16 : 0;
    if (!iplen) { snprintf(detail, 64, "AFI %d", afi); SKIP(R_UNSUPPORTED_AFI); }
    if (end - p < 2 * iplen) SKIP(R_MALFORMED);
    const uint8_t *ip1 = p, *ip2 = p + iplen;
    p += 2 * iplen;
    /* The first address is the peer's in every subtype (RFC 6396); _LOCAL only says the local
     * side sent the message. bgpdump prints the same. */
    const uint8_t *peer_ipb = ip1;
    uint32_t peer_as = as1;
    (void)ip2; (void)as2;
    if (d->sel && (!sel_peer(d->sel, peer_as) || (is_state && !(d->sel->kinds & 8)))) return 0;
    PyObject *time = make_time(ts, usec, et);
    PyObject *pip = ip_str(peer_ipb, afi);
    PyObject *pas = PyLong_FromUnsignedLong(peer_as);
    int rc = 0;
    if (!time || !pip || !pas) { rc = -1; goto done; }
    if (is_state) {
        if (end - p < 4) { rc = R_MALFORMED + 1; goto done; }
        ObsObject *o = (ObsObject *)obs_type->tp_alloc(obs_type, 0);
        if (!o) { rc = -1; goto done; }
        for (int i = 0; i < OBS_NFIELDS; i++) { Py_INCREF(Py_None); *obs_slot(o, i) = Py_None; }
        Py_SETREF(o->time, (Py_INCREF(time), time));
        Py_SETREF(o->kind, (Py_INCREF(K_STATE), K_STATE));
        Py_SETREF(o->peer_ip, (Py_INCREF(pip), pip));
        Py_SETREF(o->peer_asn, (Py_INCREF(pas), pas));
        Py_SETREF(o->atomic_aggregate, (Py_INCREF(Py_False), Py_False));
        Py_SETREF(o->old_state, PyLong_FromLong(rd16(p)));
        Py_SETREF(o->new_state, PyLong_FromLong(rd16(p + 2)));
        PyObject *lbl = et ? L_BGP4MP[1][0][0] : L_BGP4MP[0][0][0];
        Py_SETREF(o->record_type, (Py_INCREF(lbl), lbl));
        Py_SETREF(o->collector, (Py_INCREF(d->collector), d->collector));
        Py_SETREF(o->source, (Py_INCREF(d->source), d->source));
        Py_SETREF(o->offset, (Py_INCREF(offset), offset));
        rc = append_other(d, (PyObject *)o);
        Py_DECREF(o);
        goto done;
    }
    /* BGP message: marker(16) length(2) type(1) */
    if (end - p < 19) { rc = R_MALFORMED + 1; goto done; }
    for (int i = 0; i < 16; i++) if (p[i] != 0xFF) { rc = R_BAD_MARKER + 1; goto done; }
    int msglen = rd16(p + 16), msgtype = p[18];
    if (msgtype != 2) goto done;                 /* OPEN, KEEPALIVE, NOTIFICATION: no routes */
    if (msglen < 23 || msglen > end - p) {
        snprintf(detail, 64, "BGP message length %d, record has %d", msglen, (int)(end - p));
        rc = R_MALFORMED + 1; goto done;
    }
    const uint8_t *u = p + 19, *uend = p + msglen;
    int wlen = rd16(u);
    if (2 + wlen + 2 > uend - u) { snprintf(detail, 64, "withdrawn length %d", wlen); rc = R_MALFORMED + 1; goto done; }
    const uint8_t *wd = u + 2;
    int alen = rd16(wd + wlen);
    const uint8_t *at = wd + wlen + 2;
    if (alen > uend - at) { snprintf(detail, 64, "attribute length %d", alen); rc = R_MALFORMED + 1; goto done; }
    const uint8_t *nlri = at + alen;
    int nlri_len = (int)(uend - nlri);
    attrs_t A;
    if (parse_attrs(at, alen, &A, 0) < 0) { snprintf(detail, 96, "%s", A.err); rc = R_BAD_ATTRIBUTE + 1; goto done; }
    PyObject *lbl = L_BGP4MP[et][local][addpath];
    int bad = 0;
    unsigned long long off = PyLong_AsUnsignedLongLong(offset);
    /* withdrawals first, as bgpdump prints them */
    d->cur_safi = 1;
    if (emit_nlri(d, wd, wlen, 1, addpath, time, K_WITHDRAW, pip, pas, NULL, lbl, offset, &bad) < 0) { rc = -1; goto done; }
    if (A.has_mp_unreach) {
        if (A.mpu_afi != 1 && A.mpu_afi != 2) {
            char m[64]; snprintf(m, sizeof m, "MP_UNREACH_NLRI AFI %d SAFI %d", A.mpu_afi, A.mpu_safi);
            add_error(d, off, R_UNSUPPORTED_AFI, m);
        } else if (!safi_plain(A.mpu_safi)) {
            d->unsup_safi[A.mpu_safi]++;
        } else {
            d->cur_safi = A.mpu_safi;
            if (emit_nlri(d, A.mpu_nlri, A.mpu_nlri_len, A.mpu_afi, addpath, time, K_WITHDRAW, pip, pas, NULL, lbl,
                          offset, &bad) < 0) { rc = -1; goto done; }
        }
    }
    int has_v4 = nlri_len > 0;
    int has_mp = A.has_mp_reach && A.mp_nlri_len > 0;
    if (has_mp && A.mp_afi != 1 && A.mp_afi != 2) {
        char m[64]; snprintf(m, sizeof m, "MP_REACH_NLRI AFI %d SAFI %d", A.mp_afi, A.mp_safi);
        add_error(d, off, R_UNSUPPORTED_AFI, m);
        has_mp = 0;
    } else if (has_mp && !safi_plain(A.mp_safi)) {
        d->unsup_safi[A.mp_safi]++;
        has_mp = 0;
    }
    d->ann_mode = !d->filter_on ? 0 : path_selected(d, &A, asn_len) ? 3 : 1;
    d->ann_own = d->ann_mode == 3 && d->own && origin_selected(d, &A, asn_len);
    if (d->ann_mode == 1) {
        if (has_v4 && !nlri_any_selected(d, nlri, nlri_len, 1, addpath)) has_v4 = 0;
        if (has_mp && !nlri_any_selected(d, A.mp_nlri, A.mp_nlri_len, A.mp_afi, addpath)) has_mp = 0;
    }
    if (d->sel && (has_v4 || has_mp)) {
        if (!sel_origin(d->sel, &A, asn_len)) has_v4 = has_mp = 0;
        if (has_v4 && !sel_nlri_any(d->sel, 1, nlri, nlri_len, 1, addpath)) has_v4 = 0;
        if (has_mp && !sel_nlri_any(d->sel, 1, A.mp_nlri, A.mp_nlri_len, A.mp_afi, addpath)) has_mp = 0;
    }
    if (has_v4 || has_mp) {
        attrobjs_t O;
        if (has_v4) {
            d->cur_safi = 1;
            if (build_attrobjs(d, &A, asn_len, 0, &O) < 0) {
                attrobjs_clear(&O);
                if (PyErr_Occurred()) { rc = -1; goto done; }
                rc = R_BAD_ATTRIBUTE + 1; snprintf(detail, 64, "AS_PATH"); goto done;
            }
            int r = emit_nlri(d, nlri, nlri_len, 1, addpath, time, K_ANNOUNCE, pip, pas, &O, lbl, offset, &bad);
            attrobjs_clear(&O);
            if (r < 0) { rc = -1; goto done; }
        }
        if (has_mp) {
            d->cur_safi = A.mp_safi;
            if (build_attrobjs(d, &A, asn_len, 1, &O) < 0) {
                attrobjs_clear(&O);
                if (PyErr_Occurred()) { rc = -1; goto done; }
                rc = R_BAD_ATTRIBUTE + 1; snprintf(detail, 64, "AS_PATH"); goto done;
            }
            int r = emit_nlri(d, A.mp_nlri, A.mp_nlri_len, A.mp_afi, addpath, time, K_ANNOUNCE, pip, pas, &O, lbl,
                              offset, &bad);
            attrobjs_clear(&O);
            if (r < 0) { rc = -1; goto done; }
        }
    }
    if (bad) { rc = R_BAD_PREFIX + 1; snprintf(detail, 64, "prefix list damaged; earlier prefixes kept"); }
done:
    d->ann_mode = 0;
    Py_XDECREF(time); Py_XDECREF(pip); Py_XDECREF(pas);
    return rc;
}

static int decode_peer_index(DecoderObject *d, const uint8_t *p, int len) {
    const uint8_t *end = p + len;
    if (len < 8) SKIP(R_MALFORMED);
    int vlen = rd16(p + 4);   /* collector BGP ID (4), view name length (2), name, peer count (2) */
    if (6 + vlen + 2 > len) SKIP(R_MALFORMED);
    p += 6 + vlen;
    int n = rd16(p); p += 2;
    for (int i = 0; i < d->npeers; i++) { Py_XDECREF(d->peer_ip[i]); Py_XDECREF(d->peer_asn[i]); }
    PyMem_Free(d->peer_ip); PyMem_Free(d->peer_asn);
    d->npeers = 0; d->have_peer_index = 1;
    d->peer_ip = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    d->peer_asn = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    if (!d->peer_ip || !d->peer_asn) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < n; i++) {
        if (end - p < 1) SKIP(R_MALFORMED);
        int t = p[0];
        int iplen = (t & 1) ? 16 : 4, asl = (t & 2) ? 4 : 2;
        if (5 + iplen + asl > end - p) SKIP(R_MALFORMED);
        d->peer_ip[i] = ip_str(p + 5, (t & 1) ? 2 : 1);
        const uint8_t *q = p + 5 + iplen;
        d->peer_asn[i] = PyLong_FromUnsignedLong(asl == 4 ? rd32(q) : rd16(q));
        if (!d->peer_ip[i] || !d->peer_asn[i]) return -1;
        d->npeers = i + 1;
        p += 5 + iplen + asl;
    }
    return 0;
}

static int decode_rib(DecoderObject *d, uint32_t ts, int subtype, const uint8_t *p, int len, PyObject *offset,
                      char *detail) {
    const uint8_t *end = p + len;
    int addpath = subtype >= 8;
    int base = addpath ? subtype - 6 : subtype;   /* 2..6 */
    int afi, safi;
    if (len < 5) SKIP(R_MALFORMED);
    p += 4;                                       /* sequence number */
    if (base == 6) {                              /* RIB_GENERIC: AFI, SAFI, NLRI */
        if (end - p < 4) SKIP(R_MALFORMED);
        afi = rd16(p); safi = p[2]; p += 3;
        if (afi != 1 && afi != 2) {
            snprintf(detail, 64, "RIB_GENERIC AFI %d SAFI %d", afi, safi); SKIP(R_UNSUPPORTED_AFI);
        }
        if (!safi_plain(safi)) { d->unsup_safi[safi]++; return 0; }
    } else {
        afi = (base == 2 || base == 3) ? 1 : 2;
        safi = (base == 2 || base == 4) ? 1 : 2;
    }
    int plen = p[0];
    int nbytes = (plen + 7) / 8;
    if (plen > (afi == 2 ? 128 : 32) || 1 + nbytes + 2 > end - p) SKIP(R_BAD_PREFIX);
    PyObject *pfx = prefix_str(p + 1, plen, afi);
    if (!pfx) return -1;
    const uint8_t *pfxbytes = p + 1;
    p += 1 + nbytes;
    int count = rd16(p); p += 2;
    if (count && !d->have_peer_index) { Py_DECREF(pfx); SKIP(R_NO_PEER_INDEX); }
    d->cur_safi = safi;
    if (d->safi_sel < 0 && safi != 1) {
        /* as bgpdump -m: it prints BGP4MP multicast routes but not TABLE_DUMP_V2 multicast entries */
        d->safi_filtered += (unsigned long long)count;
        Py_DECREF(pfx);
        return 0;
    }
    if (d->sel && !sel_prefix(d->sel, 2, pfxbytes, plen, afi)) { Py_DECREF(pfx); d->filtered += count; return 0; }
    PyObject *time = PyFloat_FromDouble((double)ts);
    PyObject *lbl = addpath ? L_TABLE_DUMP2_AP : L_TABLE_DUMP2;
    int rc = 0;
    for (int i = 0; i < count; i++) {
        int hl = addpath ? 10 : 6;
        if (end - p < hl + 2) { rc = R_MALFORMED + 1; snprintf(detail, 64, "RIB entry %d of %d cut short", i, count); break; }
        int pi = rd16(p);
        uint32_t orig = rd32(p + 2);
        PyObject *pid = addpath ? PyLong_FromUnsignedLong(rd32(p + 6)) : NULL;
        int alen = rd16(p + hl);
        const uint8_t *at = p + hl + 2;
        if (alen > end - at) { Py_XDECREF(pid); rc = R_MALFORMED + 1; snprintf(detail, 64, "RIB entry %d attributes past end", i); break; }
        p = at + alen;
        if (pi >= d->npeers) { Py_XDECREF(pid); add_error(d, PyLong_AsUnsignedLongLong(offset), R_BAD_PEER_INDEX, ""); continue; }
        attrs_t A;
        attrobjs_t O;
        if (parse_attrs(at, alen, &A, 1) < 0) {
            Py_XDECREF(pid); add_error(d, PyLong_AsUnsignedLongLong(offset), R_BAD_ATTRIBUTE, A.err); continue;
        }
        if (d->sel && (!sel_peer(d->sel, (uint32_t)PyLong_AsUnsignedLong(d->peer_asn[pi])) ||
                       !sel_origin(d->sel, &A, 4))) {
            Py_XDECREF(pid); d->filtered++; continue;
        }
        if (build_attrobjs(d, &A, 4, 1, &O) < 0) {
            attrobjs_clear(&O); Py_XDECREF(pid);
            if (PyErr_Occurred()) { rc = -1; break; }
            add_error(d, PyLong_AsUnsignedLongLong(offset), R_BAD_ATTRIBUTE, "AS_PATH"); continue;
        }
        if (d->filter_on && path_selected(d, &A, 4) && (ps_add(d->sticky, afi, plen, pfxbytes) < 0 ||
                (d->own && origin_selected(d, &A, 4) && ps_add(d->own, afi, plen, pfxbytes) < 0))) {
            attrobjs_clear(&O); Py_XDECREF(pid); rc = -1; break;
        }
        PyObject *og = PyLong_FromUnsignedLong(orig);
        Py_INCREF(pfx);
        int r = emit(d, time, K_RIB, d->peer_ip[pi], d->peer_asn[pi], pfx, &O, pid, lbl, offset, og);
        Py_XDECREF(og);
        attrobjs_clear(&O);
        if (r < 0) { rc = -1; break; }
    }
    Py_DECREF(pfx); Py_XDECREF(time);
    return rc;
}

static int decode_table_dump(DecoderObject *d, uint32_t ts, int subtype, const uint8_t *p, int len,
                             PyObject *offset, char *detail) {
    int afi = (subtype == 1 || subtype == 3) ? 1 : (subtype == 2 || subtype == 4) ? 2 : 0;
    if (!afi) SKIP(R_UNKNOWN_TYPE);
    int asn_len = subtype >= 3 ? 4 : 2;
    int iplen = afi == 1 ? 4 : 16;
    const uint8_t *end = p + len;
    if (len < 4 + iplen + 6 + iplen + asn_len + 2) SKIP(R_MALFORMED);
    const uint8_t *pfxb = p + 4;
    int plen = p[4 + iplen];
    if (plen > iplen * 8) SKIP(R_BAD_PREFIX);
    uint32_t orig = rd32(p + 4 + iplen + 2);
    const uint8_t *peer = p + 4 + iplen + 6;
    uint32_t pas = asn_len == 4 ? rd32(peer + iplen) : rd16(peer + iplen);
    const uint8_t *q = peer + iplen + asn_len;
    int alen = rd16(q);
    if (2 + alen > end - q) SKIP(R_MALFORMED);
    attrs_t A;
    if (parse_attrs(q + 2, alen, &A, 0) < 0) { snprintf(detail, 96, "%s", A.err); SKIP(R_BAD_ATTRIBUTE); }
    if (d->sel && (!sel_peer(d->sel, pas) || !sel_prefix(d->sel, 2, pfxb, plen, afi) || !sel_origin(d->sel, &A, asn_len))) {
        d->filtered++;
        return 0;
    }
    attrobjs_t O;
    if (build_attrobjs(d, &A, asn_len, afi == 2, &O) < 0) {
        attrobjs_clear(&O);
        if (PyErr_Occurred()) return -1;
        SKIP(R_BAD_ATTRIBUTE);
    }
    if (d->filter_on && path_selected(d, &A, asn_len) && (ps_add(d->sticky, afi, plen, pfxb) < 0 ||
            (d->own && origin_selected(d, &A, asn_len) && ps_add(d->own, afi, plen, pfxb) < 0))) {
        attrobjs_clear(&O);
        return -1;
    }
    PyObject *time = PyFloat_FromDouble((double)ts);
    PyObject *pip = ip_str(peer, afi);
    PyObject *pasn = PyLong_FromUnsignedLong(pas);
    PyObject *og = PyLong_FromUnsignedLong(orig);
    PyObject *pfx = prefix_str(pfxb, plen, afi);
    int rc = 0;
    d->cur_safi = 1;  /* TABLE_DUMP has no SAFI: its subtypes are the unicast tables */
    if (!time || !pip || !pasn || !og || !pfx) { Py_XDECREF(pfx); rc = -1; }
    else rc = emit(d, time, K_RIB, pip, pasn, pfx, &O, NULL, L_TABLE_DUMP, offset, og);
    attrobjs_clear(&O);
    Py_XDECREF(time); Py_XDECREF(pip); Py_XDECREF(pasn); Py_XDECREF(og);
    return rc;
}

/* Legacy MRT type BGP (5), the 1999-2000 RIS archives: UPDATE and STATE_CHANGE. */
static int decode_legacy_bgp(DecoderObject *d, uint32_t ts, int subtype, const uint8_t *p, int len,
                             PyObject *offset, char *detail) {
    const uint8_t *end = p + len;
    if (subtype == 3) {
        if (len < 10) SKIP(R_MALFORMED);
        if (d->sel && (!(d->sel->kinds & 8) || !sel_peer(d->sel, rd16(p)))) return 0;
        ObsObject *o = (ObsObject *)obs_type->tp_alloc(obs_type, 0);
        if (!o) return -1;
        for (int i = 0; i < OBS_NFIELDS; i++) { Py_INCREF(Py_None); *obs_slot(o, i) = Py_None; }
        Py_SETREF(o->time, PyFloat_FromDouble((double)ts));
        Py_SETREF(o->kind, (Py_INCREF(K_STATE), K_STATE));
        Py_SETREF(o->peer_asn, PyLong_FromLong(rd16(p)));
        Py_SETREF(o->peer_ip, ip_str(p + 2, 1));
        Py_SETREF(o->old_state, PyLong_FromLong(rd16(p + 6)));
        Py_SETREF(o->new_state, PyLong_FromLong(rd16(p + 8)));
        Py_SETREF(o->atomic_aggregate, (Py_INCREF(Py_False), Py_False));
        Py_SETREF(o->record_type, (Py_INCREF(L_BGP), L_BGP));
        Py_SETREF(o->collector, (Py_INCREF(d->collector), d->collector));
        Py_SETREF(o->source, (Py_INCREF(d->source), d->source));
        Py_SETREF(o->offset, (Py_INCREF(offset), offset));
        int r = append_other(d, (PyObject *)o);
        Py_DECREF(o);
        return r;
    }
    if (subtype != 1) return 0;                  /* OPEN, KEEPALIVE, ...: no routes */
    if (len < 16) SKIP(R_MALFORMED);
    uint32_t pas = rd16(p);
    if (d->sel && !sel_peer(d->sel, pas)) return 0;
    const uint8_t *pipb = p + 2;
    p += 12;
    int wlen = rd16(p);
    if (2 + wlen + 2 > end - p) SKIP(R_MALFORMED);
    const uint8_t *wd = p + 2;
    int alen = rd16(wd + wlen);
    const uint8_t *at = wd + wlen + 2;
    if (alen > end - at) SKIP(R_MALFORMED);
    attrs_t A;
    if (parse_attrs(at, alen, &A, 0) < 0) { snprintf(detail, 96, "%s", A.err); SKIP(R_BAD_ATTRIBUTE); }
    PyObject *time = PyFloat_FromDouble((double)ts);
    PyObject *pip = ip_str(pipb, 1);
    PyObject *pasn = PyLong_FromUnsignedLong(pas);
    int bad = 0, rc = 0;
    attrobjs_t O; memset(&O, 0, sizeof O);
    d->cur_safi = 1;
    if (emit_nlri(d, wd, wlen, 1, 0, time, K_WITHDRAW, pip, pasn, NULL, L_BGP, offset, &bad) < 0) rc = -1;
    else if (at + alen < end) {
        if (build_attrobjs(d, &A, 2, 0, &O) < 0) rc = PyErr_Occurred() ? -1 : R_BAD_ATTRIBUTE + 1;
        else if (emit_nlri(d, at + alen, (int)(end - at - alen), 1, 0, time, K_ANNOUNCE, pip, pasn, &O, L_BGP,
                           offset, &bad) < 0) rc = -1;
    }
    attrobjs_clear(&O);
    Py_XDECREF(time); Py_XDECREF(pip); Py_XDECREF(pasn);
    if (!rc && bad) rc = R_BAD_PREFIX + 1;
    return rc;
}

/* ---- the record loop --------------------------------------------------------------------------- */
static int known_type(int type, int subtype) {
    switch (type) {
    case 5: return subtype <= 7;
    case 12: return subtype >= 1 && subtype <= 4;
    case 13: return subtype >= 1 && subtype <= 12 && subtype != 7;
    case 16: case 17: return subtype <= 11;
    /* types transitwatch recognises but does not decode into routes (OSPF, IS-IS, RIP...) */
    case 0: case 1: case 2: case 3: case 4: case 6: case 7: case 8: case 9: case 10: case 11:
    case 32: case 33: case 48: case 49: return 1;
    default: return 0;
    }
}

#define MAX_RECORD (16u * 1024u * 1024u)
#define ZERO_RUN 16   /* empty type-0 records in a row that make input "not MRT" (192 bytes) */

/* A header that could start a record: known type, sane length, time near the last one seen. */
static int plausible_header(DecoderObject *d, const uint8_t *h) {
    uint32_t ts = rd32(h), length = rd32(h + 8);
    int type = rd16(h + 4), subtype = rd16(h + 6);
    if (!known_type(type, subtype) || length > MAX_RECORD) return 0;
    if (type < 5 || (type > 17 && type != 32 && type != 33 && type != 48 && type != 49)) return 0;
    if (d->last_ts && (ts + 86400u * 7 < d->last_ts || ts > d->last_ts + 86400u * 7)) return 0;
    if (!d->last_ts && (ts < 631152000u)) return 0;   /* before 1990 */
    return 1;
}

/* Early RIS RIB dumps (rrc00, 1999 to about 2001) pack many TABLE_DUMP entries into one record:
 * after the header come the view and sequence numbers once, then entry after entry, and the header's
 * length counts the entries but not those 4 bytes. Such a record is recognised from its bytes: the
 * entries that start after view and sequence end exactly `length` bytes later. A record laid out as
 * RFC 6396 says (one entry, length counting view and sequence) never passes this walk: its entry
 * ends 4 bytes before that point, and no entry fits in 4 bytes. Returns the number of entries
 * (0: not this layout, or not all of the record is in `avail` yet). */
static int td_multi_entries(const uint8_t *h, size_t avail) {
    uint32_t length = rd32(h + 8);
    int subtype = rd16(h + 6);
    int iplen = (subtype == 1 || subtype == 3) ? 4 : (subtype == 2 || subtype == 4) ? 16 : 0;
    int asn_len = subtype >= 3 ? 4 : 2;
    if (!iplen || avail < 16 + (size_t)length) return 0;
    const uint8_t *p = h + 16, *end = h + 16 + length;
    /* prefix, prefix length, status, originated, peer address, peer AS, attribute length */
    long fixed = iplen + 1 + 1 + 4 + iplen + asn_len + 2;
    int n = 0;
    while (p < end) {
        if (end - p < fixed) return 0;
        long size = fixed + rd16(p + fixed - 2);
        if (size > end - p) return 0;
        p += size;
        n++;
    }
    return n;
}

static int decode_table_dump(DecoderObject *d, uint32_t ts, int subtype, const uint8_t *p, int len,
                             PyObject *offset, char *detail);

/* Decodes the entries of an early RIS multi-entry TABLE_DUMP record (see td_multi_entries). Each
 * entry is decoded as a one-entry record whose view and sequence are the 4 bytes before it (they are
 * not used), so both layouts share one entry decoder. */
static int decode_td_multi(DecoderObject *d, uint32_t ts, int subtype, const uint8_t *body, uint32_t length,
                           PyObject *offset, unsigned long long off) {
    int iplen = (subtype == 1 || subtype == 3) ? 4 : 16, asn_len = subtype >= 3 ? 4 : 2;
    long fixed = iplen + 1 + 1 + 4 + iplen + asn_len + 2;
    const uint8_t *p = body + 4, *end = body + 4 + length;
    d->early_td++;
    while (end - p >= fixed) {
        long size = fixed + rd16(p + fixed - 2);
        char detail[128] = "";
        int rc = decode_table_dump(d, ts, subtype, p - 4, (int)(4 + size), offset, detail);
        if (rc < 0) return -1;
        if (rc > 0) add_error(d, off + (unsigned long long)(p - body) + 12, rc - 1, detail);
        p += size;
    }
    return 0;
}

static int decode_record(DecoderObject *d, const uint8_t *h, unsigned long long off, int multi) {
    uint32_t ts = rd32(h), length = rd32(h + 8);
    int type = rd16(h + 4), subtype = rd16(h + 6);
    const uint8_t *body = h + 12;
    PyObject *offset = PyLong_FromUnsignedLongLong(off);
    if (!offset) return -1;
    char detail[128] = "";
    int rc = 0;
    d->records++;
    d->types_seen[type & 63]++;
    double t = (double)ts;
    if ((type == 17 || type == 33 || type == 49) && length >= 4) t += (double)rd32(body) / 1e6;
    if (d->records == 1 || t < d->first_time) d->first_time = t;
    if (t > d->last_time) d->last_time = t;
    if (d->sel && (t < d->sel->lo || t >= d->sel->hi) && !(type == 13 && subtype == 1)) {
        Py_DECREF(offset);
        return 0;  /* outside the selected window (a peer index is always read) */
    }
    switch (type) {
    case 16: case 17: rc = decode_bgp4mp(d, ts, type, subtype, body, (int)length, offset, detail); break;
    case 13:
        if (subtype == 1) rc = decode_peer_index(d, body, (int)length);
        else rc = decode_rib(d, ts, subtype, body, (int)length, offset, detail);
        break;
    case 12:
        if (multi) rc = decode_td_multi(d, ts, subtype, body, length, offset, off);
        else rc = decode_table_dump(d, ts, subtype, body, (int)length, offset, detail);
        break;
    case 5: rc = decode_legacy_bgp(d, ts, subtype, body, (int)length, offset, detail); break;
    default: break;  /* non-BGP MRT types carry no routes */
    }
    Py_DECREF(offset);
    if (rc > 0) { add_error(d, off, rc - 1, detail); rc = 0; }
    return rc;
}

/* Parses every complete record in buf[pos:len]. `final`: no more data will come. */
static int run(DecoderObject *d, int final) {
    if (!d->buf) return 0;   /* nothing fed yet (NULL + 0 is undefined behaviour in C) */
    while (1) {
        size_t avail = d->len - d->pos;
        const uint8_t *h = d->buf + d->pos;
        unsigned long long off = d->base + d->pos;
        if (d->resyncing) {
            /* Look for the next plausible header; confirm with the one after it when possible. */
            while (avail >= 12) {
                if (plausible_header(d, h)) {
                    uint32_t l = rd32(h + 8);
                    /* an early RIS multi-entry TABLE_DUMP record: the next header is 4 bytes later */
                    if (rd16(h + 4) == 12 && td_multi_entries(h, avail) > 0 &&
                        (avail < 16 + (size_t)l + 12 || plausible_header(d, h + 16 + l))) break;
                    if (avail >= 12 + l + 12) { if (plausible_header(d, h + 12 + l)) break; }
                    else if (avail >= 12 + l) {
                        if (final) break;                    /* the last record of the input */
                        return 0;                            /* wait for more data to confirm */
                    } else if (!final) return 0;             /* wait for the whole record */
                    /* else: at the end of the input a record that does not fit is no record */
                }
                d->pos++; h++; avail--;
            }
            if (avail < 12) {
                if (final) {
                    if (avail) d->pos = d->len;
                    d->resyncing = 0;
                }
                return 0;
            }
            d->resyncing = 0;
            off = d->base + d->pos;
            char msg[96];
            snprintf(msg, sizeof msg, "skipped %llu bytes to the next record at offset %llu",
                     off - d->resync_from, off);
            if (PyList_GET_SIZE(d->errors) < MAX_ERRORS) {
                PyObject *t = Py_BuildValue("(Ks)", d->resync_from, msg);
                if (t) { PyList_Append(d->errors, t); Py_DECREF(t); }
            }
        }
        if (avail < 12) {
            if (final && avail) {
                char det[80]; snprintf(det, sizeof det, "%zu bytes left, a header needs 12", avail);
                add_error(d, off, R_TRUNCATED_RECORD, det);
                d->pos = d->len;
            }
            return 0;
        }
        uint32_t length = rd32(h + 8);
        int type = rd16(h + 4), subtype = rd16(h + 6);
        if (type == 0 && length == 0) {
            /* Empty records of the deprecated type 0 in a run are zeros, not MRT: a file of them
             * is not MRT data (stop at once, even for a 2 GB sparse file); in the middle of a
             * file they are damage to skip. */
            if (++d->zero_run >= ZERO_RUN) {
                if (d->records + 1 == d->zero_run) { d->not_mrt = 1; return 0; }
                add_error(d, off, R_BAD_HEADER, "a run of empty type-0 records (zeros)");
                d->zero_run = 0;
                d->resyncing = 1; d->resync_from = off; d->pos++;
                continue;
            }
        } else d->zero_run = 0;
        if (!known_type(type, subtype) || length > MAX_RECORD) {
            char det[80]; snprintf(det, sizeof det, "type %d subtype %d length %u", type, subtype, length);
            add_error(d, off, R_BAD_HEADER, det);
            d->resyncing = 1; d->resync_from = off; d->pos++;
            continue;
        }
        size_t reclen = 12 + (size_t)length;
        int multi = 0;
        if (type == 12) {
            /* a TABLE_DUMP record may be an early RIS multi-entry one, 4 bytes longer: wait for them */
            if (avail < 16 + (size_t)length && !final) return 0;
            if (td_multi_entries(h, avail) > 0) { multi = 1; reclen += 4; }
        }
        if (avail < reclen) {
            if (final) {
                char det[96]; snprintf(det, sizeof det, "record of %u bytes, only %zu left", length, avail - 12);
                add_error(d, off, R_TRUNCATED_RECORD, det);
                d->pos = d->len;
            }
            return 0;
        }
        d->bytes += reclen;
        if (decode_record(d, h, off, multi) < 0) return -1;
        uint32_t ts = rd32(h);
        if (ts > d->last_ts || d->last_ts == 0) d->last_ts = ts;
        d->pos += reclen;
    }
}

static PyObject *col_empty(DecoderObject *d) {
    if (col_start(d->col) < 0) return NULL;
    PyObject *r = col_take(d->col);
    col_reset(d->col);
    return r;
}

static PyObject *dec_feed_impl(DecoderObject *d, const uint8_t *data, size_t n, int final) {
    if (d->not_mrt) return d->col ? col_empty(d) : PyList_New(0);
    if (n) {
        if (d->pos > 0 && d->pos == d->len) { d->base += d->pos; d->pos = d->len = 0; }
        if (d->len + n > d->cap) {
            /* compact first: only the unparsed tail is kept, so memory stays bounded */
            if (d->pos) {
                memmove(d->buf, d->buf + d->pos, d->len - d->pos);
                d->base += d->pos; d->len -= d->pos; d->pos = 0;
            }
            if (d->len + n > d->cap) {
                size_t cap = d->cap ? d->cap : FIRST_BUFFER;
                while (cap < d->len + n) cap *= 2;
#ifdef EXACT_BUFFER
                cap = d->len + n;   /* fuzzing: no slack after the data, so any overread is caught */
#endif
                uint8_t *nb = PyMem_Realloc(d->buf, cap);
                if (!nb) return PyErr_NoMemory();
                d->buf = nb; d->cap = cap;
            }
        }
        memcpy(d->buf + d->len, data, n);
        d->len += n;
    }
    d->out = PyList_New(0);
    if (!d->out) return NULL;
    if (d->col && col_start(d->col) < 0) { Py_CLEAR(d->out); return NULL; }
    if (run(d, final) < 0) { Py_CLEAR(d->out); if (d->col) col_reset(d->col); return NULL; }
    /* a short input of nothing but empty type-0 records (a small file of zeros) is not MRT either */
    if (final && d->records && d->zero_run == d->records) d->not_mrt = 1;
    PyObject *r = d->out;
    d->out = NULL;
    if (d->col) {
        Py_DECREF(r);   /* empty: every observation went to the columns */
        r = col_take(d->col);
        col_reset(d->col);
    }
    return r;
}

static PyObject *dec_feed(DecoderObject *d, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *r = dec_feed_impl(d, view.buf, (size_t)view.len, 0);
    PyBuffer_Release(&view);
    return r;
}

static PyObject *dec_finish(DecoderObject *d, PyObject *unused) { return dec_feed_impl(d, NULL, 0, 1); }

static PyObject *dec_stats(DecoderObject *d, void *closure) {
    PyObject *skipped = PyDict_New();
    for (int i = 0; i < R_NREASONS; i++) {
        if (!d->skipped[i]) continue;
        PyObject *v = PyLong_FromUnsignedLongLong(d->skipped[i]);
        PyDict_SetItemString(skipped, reason_names[i], v);
        Py_DECREF(v);
    }
    PyObject *types = PyDict_New();
    for (int i = 0; i < 64; i++) {
        if (!d->types_seen[i]) continue;
        PyObject *k = PyLong_FromLong(i), *v = PyLong_FromUnsignedLongLong(d->types_seen[i]);
        PyDict_SetItem(types, k, v);
        Py_DECREF(k); Py_DECREF(v);
    }
    PyObject *unsup = PyDict_New();
    for (int i = 0; i < 256; i++) {
        if (!d->unsup_safi[i]) continue;
        char k[96]; snprintf(k, sizeof k, "SAFI %d (%s) NLRI, not decoded", i, safi_name(i));
        PyObject *v = PyLong_FromUnsignedLongLong(d->unsup_safi[i]);
        PyDict_SetItemString(unsup, k, v);
        Py_DECREF(v);
    }
    PyObject *first = d->records ? PyFloat_FromDouble(d->first_time) : (Py_INCREF(Py_None), Py_None);
    PyObject *last = d->records ? PyFloat_FromDouble(d->last_time) : (Py_INCREF(Py_None), Py_None);
    return Py_BuildValue("{sKsKsKsKsKsKsNsNsNsNsKsNsisK}", "records", d->records, "routes", d->routes,
                         "bytes", d->bytes, "errors", d->nerrors, "addpath_guessed", d->addpath_guessed,
                         "filtered", d->filtered, "first_time", first, "last_time", last, "skipped", skipped,
                         "record_types", types, "safi_filtered", d->safi_filtered, "unsupported", unsup,
                         "not_mrt", d->not_mrt, "early_table_dump", (unsigned long long)d->early_td);
}

static PyObject *dec_errors(DecoderObject *d, void *closure) { Py_INCREF(d->errors); return d->errors; }
static PyObject *dec_offset(DecoderObject *d, void *closure) { return PyLong_FromUnsignedLongLong(d->base + d->pos); }
static PyObject *dec_not_mrt(DecoderObject *d, void *closure) { return PyBool_FromLong(d->not_mrt); }

static PyObject *dec_set_columns(DecoderObject *d, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    if (on && !d->col) {
        d->col = PyMem_Calloc(1, sizeof(colbuf_t));
        if (!d->col) return PyErr_NoMemory();
        d->col->last_path_idx = -1;
    } else if (!on && d->col) {
        col_free(d->col);
        d->col = NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *dec_select_safi(DecoderObject *d, PyObject *arg) {
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    if (v < -1 || v > 255) {
        PyErr_SetString(PyExc_ValueError, "SAFI must be 0 (every SAFI), -1 (as bgpdump) or 1 to 255");
        return NULL;
    }
    d->safi_sel = (int)v;
    Py_RETURN_NONE;
}

static int dec_init(DecoderObject *d, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"source", "collector", NULL};
    PyObject *source, *collector;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UU", kw, &source, &collector)) return -1;
    Py_INCREF(source); Py_XSETREF(d->source, source);
    Py_INCREF(collector); Py_XSETREF(d->collector, collector);
    if (!d->errors) d->errors = PyList_New(0);
    if (!d->cache) d->cache = PyMem_Calloc(SCACHE_SIZE, sizeof(scache_entry));
    if (!d->errors || !d->cache) { PyErr_NoMemory(); return -1; }
    return 0;
}

static void dec_dealloc(DecoderObject *d) {
    Py_XDECREF(d->source); Py_XDECREF(d->collector); Py_XDECREF(d->errors); Py_XDECREF(d->out);
    for (int i = 0; i < d->npeers; i++) { Py_XDECREF(d->peer_ip[i]); Py_XDECREF(d->peer_asn[i]); }
    PyMem_Free(d->peer_ip); PyMem_Free(d->peer_asn);
    if (d->cache) {
        for (int i = 0; i < SCACHE_SIZE; i++) { Py_XDECREF(d->cache[i].val); PyMem_Free(d->cache[i].key); }
        PyMem_Free(d->cache);
    }
    PyMem_Free(d->buf);
    PyMem_Free(d->f_asns); PyMem_Free(d->f_pfx);
    Py_XDECREF(d->sticky);
    Py_XDECREF(d->own);
    sel_free(d->sel);
    col_free(d->col);
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyObject *dec_set_filter(DecoderObject *d, PyObject *args) {
    PyObject *asns, *prefixes, *sticky = NULL, *own = NULL;
    if (!PyArg_ParseTuple(args, "OO|O!O!", &asns, &prefixes, &PrefixSetType, &sticky, &PrefixSetType, &own))
        return NULL;
    Py_XINCREF(own);
    Py_XSETREF(d->own, (PrefixSetObject *)own);
    if (!sticky) sticky = PyObject_CallNoArgs((PyObject *)&PrefixSetType);
    else Py_INCREF(sticky);
    if (!sticky) return NULL;
    Py_XSETREF(d->sticky, (PrefixSetObject *)sticky);
    PyObject *fa = PySequence_Fast(asns, "asns must be a sequence of ints");
    if (!fa) return NULL;
    PyObject *fp = PySequence_Fast(prefixes, "prefixes must be a sequence of (afi, bytes, length)");
    if (!fp) { Py_DECREF(fa); return NULL; }
    Py_ssize_t na = PySequence_Fast_GET_SIZE(fa), np = PySequence_Fast_GET_SIZE(fp);
    PyMem_Free(d->f_asns); PyMem_Free(d->f_pfx);
    d->f_asns = PyMem_Calloc(na ? na : 1, sizeof(uint32_t));
    d->f_pfx = PyMem_Calloc(np ? np : 1, sizeof(struct fpfx));
    d->f_nasns = d->f_npfx = 0;
    for (Py_ssize_t i = 0; i < na; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fa, i));
        if (PyErr_Occurred()) goto fail;
        d->f_asns[d->f_nasns++] = (uint32_t)v;
    }
    for (Py_ssize_t i = 0; i < np; i++) {
        int afi, plen; const char *b; Py_ssize_t blen;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fp, i), "iy#i", &afi, &b, &blen, &plen)) goto fail;
        if (blen > 16 || plen < 0 || plen > blen * 8) { PyErr_SetString(PyExc_ValueError, "bad filter prefix"); goto fail; }
        struct fpfx *f = &d->f_pfx[d->f_npfx++];
        f->afi = afi; f->plen = plen; memset(f->a, 0, 16); memcpy(f->a, b, (size_t)blen);
    }
    d->filter_on = 1;
    Py_DECREF(fa); Py_DECREF(fp);
    Py_RETURN_NONE;
fail:
    Py_DECREF(fa); Py_DECREF(fp);
    d->filter_on = 0;
    return NULL;
}

static int sel_u32s(PyObject *seq, uint32_t **out, int *n) {
    PyObject *f = PySequence_Fast(seq, "expected a sequence of ints");
    if (!f) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(f);
    *out = PyMem_Calloc(k ? (size_t)k : 1, sizeof(uint32_t));
    if (!*out) { Py_DECREF(f); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < k; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(f, i));
        if (PyErr_Occurred() || v > 0xFFFFFFFFul) {
            Py_DECREF(f);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "ASN out of range");
            return -1;
        }
        (*out)[(*n)++] = (uint32_t)v;
    }
    Py_DECREF(f);
    return 0;
}

static int sel_prefixes(PyObject *seq, selpfx_t **out, int *n) {
    PyObject *f = PySequence_Fast(seq, "expected a sequence of (afi, bytes, length)");
    if (!f) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(f);
    *out = PyMem_Calloc(k ? (size_t)k : 1, sizeof(selpfx_t));
    if (!*out) { Py_DECREF(f); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < k; i++) {
        int afi, plen; const char *b; Py_ssize_t blen;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(f, i), "iy#i", &afi, &b, &blen, &plen)) { Py_DECREF(f); return -1; }
        if ((afi != 1 && afi != 2) || blen > 16 || plen < 0 || plen > blen * 8) {
            Py_DECREF(f); PyErr_SetString(PyExc_ValueError, "bad selection prefix"); return -1;
        }
        selpfx_t *x = &(*out)[(*n)++];
        x->afi = afi; x->plen = plen; memset(x->a, 0, 16); memcpy(x->a, b, (size_t)blen);
    }
    Py_DECREF(f);
    return 0;
}

static PyObject *dec_set_select(DecoderObject *d, PyObject *args) {
    double lo, hi; int kinds;
    PyObject *peers, *origins, *exact, *supers, *subs;
    if (!PyArg_ParseTuple(args, "ddiOOOOO", &lo, &hi, &kinds, &peers, &origins, &exact, &supers, &subs)) return NULL;
    select_t *s = PyMem_Calloc(1, sizeof(select_t));
    if (!s) return PyErr_NoMemory();
    s->lo = lo; s->hi = hi; s->kinds = kinds;
    if (sel_u32s(peers, &s->peers, &s->npeers) < 0 || sel_u32s(origins, &s->origins, &s->norigins) < 0 ||
        sel_prefixes(exact, &s->pfx[0], &s->npfx[0]) < 0 || sel_prefixes(supers, &s->pfx[1], &s->npfx[1]) < 0 ||
        sel_prefixes(subs, &s->pfx[2], &s->npfx[2]) < 0) {
        sel_free(s);
        return NULL;
    }
    sel_free(d->sel);
    d->sel = s;
    Py_RETURN_NONE;
}

static PyMethodDef dec_methods[] = {
    {"set_select", (PyCFunction)dec_set_select, METH_VARARGS,
     "set_select(lo, hi, kinds, peer_asns, origin_asns, exact, supers, subs): decode only records with "
     "time in [lo, hi), and only routes of these kinds (1 announce, 2 RIB, 4 withdraw, 8 state), peers, "
     "origins (last path segment) and prefixes (exact / less-specific-or-equal / more-specific-or-equal "
     "of one of each given list of (afi, address bytes, length)). A superset: callers re-check."},
    {"set_filter", (PyCFunction)dec_set_filter, METH_VARARGS,
     "set_filter(asns, prefixes, seen=None, own=None): keep only BGP4MP announcements whose AS path "
     "holds one of `asns`, whose prefix lies inside one of `prefixes` ((afi, address bytes, length) "
     "tuples), or whose prefix was seen before in such a route (`seen`, a PrefixSet shared across "
     "files: a target route replaced by another path must reach the state), or, with `own` (a "
     "PrefixSet), whose prefix lies inside one that `asns` originate (learnt as read: a more-specific "
     "from another origin must reach the state). RIB entries, withdrawals and state changes always "
     "pass."},
    {"select_safi", (PyCFunction)dec_select_safi, METH_O,
     "select_safi(safi): emit only routes of this SAFI (1 unicast, 2 multicast); 0 emits every SAFI; "
     "-1 what bgpdump -m prints (every SAFI but TABLE_DUMP_V2 multicast entries). "
     "The others are counted in stats['safi_filtered']."},
    {"set_columns", (PyCFunction)dec_set_columns, METH_O,
     "set_columns(on): feed() and finish() return routes as packed columns instead of Observations: "
     "(rows, kind int8 [0 announce 1 withdraw 2 rib 3 state], time float64, offset int64 [-1 none], "
     "peer int32 [index into peers], peers [(peer_ip, peer_asn)], prefix offsets int32 (rows + 1), "
     "prefix text, ADD-PATH id int64 [-1 none], path int32 [index into paths, -1 withdrawal/state], "
     "paths [str | None], others [(row, Observation) of the state changes]), bytes for the arrays."},
    {"feed", (PyCFunction)dec_feed, METH_O,
     "feed(data) -> list[Observation]: decode every complete record; keeps the incomplete tail."},
    {"finish", (PyCFunction)dec_finish, METH_NOARGS,
     "finish() -> list[Observation]: end of input; a trailing partial record is reported."},
    {NULL}
};

static PyGetSetDef dec_getset[] = {
    {"stats", (getter)dec_stats, NULL, "Counts: records, routes, bytes, errors, skipped by reason.", NULL},
    {"errors", (getter)dec_errors, NULL, "List of (offset, message) for damaged input (first 1000).", NULL},
    {"offset", (getter)dec_offset, NULL, "Stream offset of the first unparsed byte.", NULL},
    {"not_mrt", (getter)dec_not_mrt, NULL, "True once the input showed it is not MRT data (decoding stopped).", NULL},
    {NULL}
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "transitwatch.sources._mrt.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Decoder(source, collector): incremental MRT decoder; feed() decompressed bytes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dec_init,
    .tp_dealloc = (destructor)dec_dealloc,
    .tp_methods = dec_methods,
    .tp_getset = dec_getset,
};

/* ================================================================================================
 * bgpdump -m formatting of Observations (any source: MRT, RIS Live, ...)
 * ================================================================================================ */
static int ob_str(outbuf *b, PyObject *s, const char *dflt) {
    const char *c = dflt; Py_ssize_t n = (Py_ssize_t)strlen(dflt);
    if (s != Py_None && s != NULL) {
        if (PyUnicode_Check(s)) { c = PyUnicode_AsUTF8AndSize(s, &n); if (!c) return -1; }
        else {
            PyObject *r = PyObject_Str(s);
            if (!r) return -1;
            int rc = ob_str(b, r, dflt);
            Py_DECREF(r);
            return rc;
        }
    }
    if (ob_reserve(b, (size_t)n + 1) < 0) return -1;
    memcpy(b->p + b->n, c, (size_t)n); b->n += (size_t)n;
    return 0;
}

static int ob_c(outbuf *b, const char *s) { return ob_str(b, NULL, s); }

/* An address or prefix field: IPv6 text is rewritten in bgpdump's notation. */
static int ob_ip(outbuf *b, PyObject *s, const char *dflt) {
    if (!s || s == Py_None || !PyUnicode_Check(s)) return ob_str(b, s, dflt);
    Py_ssize_t n;
    const char *c = PyUnicode_AsUTF8AndSize(s, &n);
    if (!c) return -1;
    if (!memchr(c, ':', (size_t)n) || n >= 60) return ob_str(b, s, dflt);
    char addr[64], out[80];
    const char *slash = memchr(c, '/', (size_t)n);
    size_t alen = slash ? (size_t)(slash - c) : (size_t)n;
    memcpy(addr, c, alen); addr[alen] = 0;
    uint8_t a[16];
    if (inet_pton(AF_INET6, addr, a) != 1) return ob_str(b, s, dflt);
    int m = fmt_ip6_bgpdump(out, a);
    if (slash) { memcpy(out + m, slash, (size_t)(c + n - slash)); m += (int)(c + n - slash); }
    if (ob_reserve(b, (size_t)m) < 0) return -1;
    memcpy(b->p + b->n, out, (size_t)m); b->n += (size_t)m;
    return 0;
}

static int ob_uint(outbuf *b, PyObject *v, unsigned long long dflt) {
    unsigned long long x = dflt;
    if (v && v != Py_None) {
        x = PyLong_AsUnsignedLongLong(v);
        if (x == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    }
    if (ob_reserve(b, 24) < 0) return -1;
    b->n += (size_t)sprintf(b->p + b->n, "%llu", x);
    return 0;
}

static PyObject *format_bgpdump(PyObject *mod, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "format_bgpdump expects a sequence of Observations");
    if (!fast) return NULL;
    outbuf b = {0};
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyObject_TypeCheck(items[i], &ObsBaseType)) {
            PyErr_SetString(PyExc_TypeError, "format_bgpdump expects Observations");
            goto fail;
        }
        ObsObject *o = (ObsObject *)items[i];
        const char *rt = "";
        if (PyUnicode_Check(o->record_type)) rt = PyUnicode_AsUTF8(o->record_type);
        double t = PyFloat_Check(o->time) ? PyFloat_AS_DOUBLE(o->time) : PyLong_Check(o->time) ? PyLong_AsDouble(o->time) : 0.0;
        long long sec = (long long)t;
        if ((double)sec > t) sec--;
        long usec = (long)((t - (double)sec) * 1e6 + 0.5);
        if (usec >= 1000000) { sec++; usec -= 1000000; }
        if (ob_reserve(&b, 64) < 0) goto fail;
        if (ob_str(&b, o->record_type, "") < 0) goto fail;
        if (strstr(rt, "_ET") || (usec && strncmp(rt, "BGP4MP", 6) != 0 && strncmp(rt, "TABLE_DUMP", 10) != 0 && strcmp(rt, "BGP") != 0))
            b.n += (size_t)sprintf(b.p + b.n, "|%lld.%06ld|", sec, usec);
        else
            b.n += (size_t)sprintf(b.p + b.n, "|%lld|", sec);
        PyObject *k = o->kind;
        int is_rib = k == K_RIB || (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "rib") == 0);
        int is_ann = k == K_ANNOUNCE || (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "announce") == 0);
        int is_wd = k == K_WITHDRAW || (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "withdraw") == 0);
        if (is_rib || is_ann) {
            if (ob_c(&b, is_rib ? "B|" : "A|") < 0 || ob_ip(&b, o->peer_ip, "") < 0 || ob_c(&b, "|") < 0 ||
                ob_uint(&b, o->peer_asn, 0) < 0 || ob_c(&b, "|") < 0 || ob_ip(&b, o->prefix, "") < 0 ||
                ob_c(&b, "|") < 0) goto fail;
            if (o->path_id != Py_None && (ob_uint(&b, o->path_id, 0) < 0 || ob_c(&b, "|") < 0)) goto fail;
            if (ob_str(&b, o->as_path, "") < 0 || ob_c(&b, "|") < 0 || ob_str(&b, o->origin, "INCOMPLETE") < 0 ||
                ob_c(&b, "|") < 0 || ob_ip(&b, o->next_hop, "255.255.255.255") < 0 || ob_c(&b, "|") < 0 ||
                ob_uint(&b, o->local_pref, 0) < 0 || ob_c(&b, "|") < 0 || ob_uint(&b, o->med, 0) < 0 ||
                ob_c(&b, "|") < 0 || ob_str(&b, o->communities, "") < 0 ||
                ob_c(&b, PyObject_IsTrue(o->atomic_aggregate) == 1 ? "|AG|" : "|NAG|") < 0 ||
                ob_str(&b, o->aggregator, "") < 0 || ob_c(&b, "|\n") < 0) goto fail;
        } else if (is_wd) {
            if (ob_c(&b, "W|") < 0 || ob_ip(&b, o->peer_ip, "") < 0 || ob_c(&b, "|") < 0 ||
                ob_uint(&b, o->peer_asn, 0) < 0 || ob_c(&b, "|") < 0 || ob_ip(&b, o->prefix, "") < 0) goto fail;
            if (o->path_id != Py_None && (ob_c(&b, "|") < 0 || ob_uint(&b, o->path_id, 0) < 0)) goto fail;
            if (ob_c(&b, "\n") < 0) goto fail;
        } else {
            if (ob_c(&b, "STATE|") < 0 || ob_ip(&b, o->peer_ip, "") < 0 || ob_c(&b, "|") < 0 ||
                ob_uint(&b, o->peer_asn, 0) < 0 || ob_c(&b, "|") < 0 || ob_uint(&b, o->old_state, 0) < 0 ||
                ob_c(&b, "|") < 0 || ob_uint(&b, o->new_state, 0) < 0 || ob_c(&b, "\n") < 0) goto fail;
        }
    }
    Py_DECREF(fast);
    PyObject *r = PyBytes_FromStringAndSize(b.p ? b.p : "", (Py_ssize_t)b.n);
    PyMem_Free(b.p);
    return r;
fail:
    Py_DECREF(fast);
    PyMem_Free(b.p);
    return NULL;
}

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

static PyMethodDef module_methods[] = {
    {"set_observation_type", set_observation_type, METH_O, "Register the Observation subclass."},
    {"format_bgpdump", format_bgpdump, METH_O,
     "format_bgpdump(observations) -> bytes: the lines `bgpdump -m` prints for them."},
    {NULL}
};

static struct PyModuleDef mrt_module = {
    PyModuleDef_HEAD_INIT, "_mrt", "C core of the MRT decoder.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__mrt(void) {
    if (PyType_Ready(&ObsBaseType) < 0) return NULL;
    PyObject *m = PyModule_Create(&mrt_module);
    if (!m) return NULL;
    /* setup.py passes the SHA-256 of this file; transitwatch.native refuses a stale build. */
    PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256);
    Py_INCREF(&ObsBaseType);
    PyModule_AddObject(m, "ObservationBase", (PyObject *)&ObsBaseType);
    PyObject *names = PyTuple_New(OBS_NFIELDS);
    for (int i = 0; i < OBS_NFIELDS; i++) PyTuple_SET_ITEM(names, i, PyUnicode_InternFromString(obs_field_names[i]));
    PyModule_AddObject(m, "FIELDS", names);
    if (PyType_Ready(&DecoderType) < 0 || PyType_Ready(&PrefixSetType) < 0) return NULL;
    Py_INCREF(&PrefixSetType);
    PyModule_AddObject(m, "PrefixSet", (PyObject *)&PrefixSetType);
    Py_INCREF(&DecoderType);
    PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType);
#define I(var, text) var = PyUnicode_InternFromString(text)
    I(K_ANNOUNCE, "announce"); I(K_WITHDRAW, "withdraw"); I(K_RIB, "rib"); I(K_STATE, "state");
    I(S_IGP, "IGP"); I(S_EGP, "EGP"); I(S_INCOMPLETE, "INCOMPLETE"); I(S_EMPTY, "");
    I(L_TABLE_DUMP, "TABLE_DUMP"); I(L_TABLE_DUMP2, "TABLE_DUMP2"); I(L_TABLE_DUMP2_AP, "TABLE_DUMP2_AP");
    I(L_BGP, "BGP"); I(L_BGP4MP_ENTRY, "BGP4MP_ENTRY");
    I(L_BGP4MP[0][0][0], "BGP4MP"); I(L_BGP4MP[0][0][1], "BGP4MP_AP");
    I(L_BGP4MP[0][1][0], "BGP4MP_LOCAL"); I(L_BGP4MP[0][1][1], "BGP4MP_LOCAL_AP");
    I(L_BGP4MP[1][0][0], "BGP4MP_ET"); I(L_BGP4MP[1][0][1], "BGP4MP_ET_AP");
    I(L_BGP4MP[1][1][0], "BGP4MP_ET_LOCAL"); I(L_BGP4MP[1][1][1], "BGP4MP_ET_LOCAL_AP");
#undef I
    return m;
}
