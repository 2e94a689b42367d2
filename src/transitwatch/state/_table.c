/*
 * C helpers of the columnar routing snapshot (transitwatch/state/snapshot.py).
 *
 * Why C: the snapshot replaces a Python step per route of a full table (~0.5-1 us each) with
 * numpy over the decoder's columns; two steps do not vectorise:
 *
 * - clear_points(): RoutingState's RIB-dump and session rules are sequential (a dump opens at a
 *   peer's first record of a file and closes when its collector's stream moves past the dump's
 *   latest record time). What they leave behind is simple: a route survives iff its last event
 *   is an announcement or a RIB entry not older than its peer's last "clear point" (the start of
 *   the peer's last RIB dump, whose closing drops what the dump did not touch, or the last
 *   session-down). This walks the kinds once and keeps the latest clear point per peer.
 * - parse_prefixes(): prefix texts to (version, length, first, last) in the range tables' units
 *   (IPv4 addresses; IPv6 /64s), as transitwatch.registry.geo.parse_prefixes does.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

enum { K_ANNOUNCE = 0, K_WITHDRAW = 1, K_RIB = 2, K_STATE_UP = 3, K_STATE_DOWN = 4 };

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->itemsize != itemsize && !(view->itemsize == 1 && view->len % itemsize == 0)) {
        PyErr_Format(PyExc_ValueError, "%s: items of %zd bytes expected", what, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* clear_points(kind int8[n], peer int64[n], source int64[n], time float64[n], base,
 *              peer_collector int32[P], open_source int64[P], until float64[C], clear int64[P])
 * Events of one batch in stream order (seq = base + i); kind 0 announce, 1 withdraw, 2 RIB entry,
 * 3 state (up), 4 state (down); source: the file's code (RIB entries only). The state arrays carry
 * over between batches: open_source[p] the code of peer p's open dump's file (-1: none),
 * until[c] the latest RIB time of collector c's open dumps (NaN: none), clear[p] the latest clear
 * point (-1: none). */
static PyObject *clear_points(PyObject *self, PyObject *args) {
    PyObject *o_kind, *o_peer, *o_src, *o_time, *o_pc, *o_open, *o_until, *o_clear;
    long long base;
    if (!PyArg_ParseTuple(args, "OOOOLOOOO", &o_kind, &o_peer, &o_src, &o_time, &base, &o_pc, &o_open, &o_until,
                          &o_clear))
        return NULL;
    Py_buffer b[8];
    int got = 0;
    PyObject *objs[8] = {o_kind, o_peer, o_src, o_time, o_pc, o_open, o_until, o_clear};
    Py_ssize_t sizes[8] = {1, 8, 8, 8, 4, 8, 8, 8};
    int writable[8] = {0, 0, 0, 0, 0, 1, 1, 1};
    const char *names[8] = {"kind", "peer", "source", "time", "peer_collector", "open_source", "until", "clear"};
    for (; got < 8; got++)
        if (get_buffer(objs[got], &b[got], sizes[got], writable[got], names[got]) < 0) goto fail;
    Py_ssize_t n = b[0].len;
    Py_ssize_t npeers = b[4].len / 4, ncolls = b[6].len / 8;
    if (b[1].len / 8 != n || b[2].len / 8 != n || b[3].len / 8 != n || b[5].len / 8 != npeers ||
        b[7].len / 8 != npeers) {
        PyErr_SetString(PyExc_ValueError, "clear_points: arrays of different lengths");
        goto fail;
    }
    const int8_t *kind = b[0].buf;
    const int64_t *peer = b[1].buf, *src = b[2].buf;
    const double *time = b[3].buf;
    const int32_t *pc = b[4].buf;
    int64_t *open = b[5].buf, *clear = b[7].buf;
    double *until = b[6].buf;
    Py_ssize_t open_count = 0;
    for (Py_ssize_t p = 0; p < npeers; p++) open_count += open[p] >= 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p = peer[i];
        if (p < 0 || p >= npeers) {
            PyErr_SetString(PyExc_ValueError, "clear_points: peer out of range");
            goto fail;
        }
        int32_t c = pc[p];
        if (c < 0 || c >= ncolls) {
            PyErr_SetString(PyExc_ValueError, "clear_points: collector out of range");
            goto fail;
        }
        int k = kind[i];
        /* RibDumps.moved_past: a non-RIB record later than its collector's open dumps closes them */
        if (open_count && k != K_RIB && !isnan(until[c]) && time[i] > until[c]) {
            for (Py_ssize_t q = 0; q < npeers; q++)
                if (pc[q] == c && open[q] >= 0) {
                    open[q] = -1;
                    open_count--;
                }
            until[c] = NAN;
        }
        if (k == K_RIB) {
            /* RoutingState._rib: a peer's record of another file, or after its dump closed, opens one */
            if (open[p] < 0 || open[p] != src[i]) {
                if (open[p] < 0) open_count++;
                open[p] = src[i];
                clear[p] = base + i;
            }
            if (isnan(until[c]) || time[i] > until[c]) until[c] = time[i];
        } else if (k == K_STATE_DOWN) {
            clear[p] = base + i;
        }
    }
    for (int j = 0; j < got; j++) PyBuffer_Release(&b[j]);
    Py_RETURN_NONE;
fail:
    for (int j = 0; j < got; j++) PyBuffer_Release(&b[j]);
    return NULL;
}

/* parse_prefixes(list of str) -> (version int8, length int16, first uint64, last uint64, odd):
 * packed columns; IPv6 values in /64 units. Texts the strict form here does not cover (no '/',
 * a length that is not 1-3 ASCII digits, non-ASCII) are listed in `odd` for the caller's exact
 * parser; an address inet_pton rejects is malformed (version 0), as socket.inet_pton says. */
static PyObject *parse_prefixes(PyObject *self, PyObject *arg) {
    PyObject *fast = PySequence_Fast(arg, "parse_prefixes() needs a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *ver_b = PyBytes_FromStringAndSize(NULL, n);
    PyObject *len_b = PyBytes_FromStringAndSize(NULL, n * 2);
    PyObject *first_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *last_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *odd = PyList_New(0);
    PyObject *result = NULL;
    if (!ver_b || !len_b || !first_b || !last_b || !odd) goto done;
    int8_t *ver = (int8_t *)PyBytes_AS_STRING(ver_b);
    int16_t *len = (int16_t *)PyBytes_AS_STRING(len_b);
    uint64_t *first = (uint64_t *)PyBytes_AS_STRING(first_b);
    uint64_t *last = (uint64_t *)PyBytes_AS_STRING(last_b);
    for (Py_ssize_t i = 0; i < n; i++) {
        ver[i] = 0;
        len[i] = 0;
        first[i] = last[i] = 0;
        PyObject *s = items[i];
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "parse_prefixes() needs str");
            goto done;
        }
        int strict = PyUnicode_IS_ASCII(s);
        Py_ssize_t size = PyUnicode_GET_LENGTH(s);
        const char *text = strict ? (const char *)PyUnicode_1BYTE_DATA(s) : NULL;
        const char *slash = strict ? memchr(text, '/', (size_t)size) : NULL;
        Py_ssize_t alen = slash ? slash - text : 0, llen = slash ? size - alen - 1 : 0;
        if (!slash || alen == 0 || alen >= 64 || llen < 1 || llen > 3 || memchr(text, 0, (size_t)size)) {
            strict = 0;
        } else {
            for (Py_ssize_t j = 0; j < llen; j++)
                if (slash[1 + j] < '0' || slash[1 + j] > '9') strict = 0;
        }
        if (!strict) {
            PyObject *at = PyLong_FromSsize_t(i);
            int bad = !at || PyList_Append(odd, at) < 0;
            Py_XDECREF(at);
            if (bad) goto done;
            continue;
        }
        char addr[64];
        memcpy(addr, text, (size_t)alen);
        addr[alen] = 0;
        int bits = 0;
        for (Py_ssize_t j = 0; j < llen; j++) bits = bits * 10 + (slash[1 + j] - '0');
        if (memchr(addr, ':', (size_t)alen)) {
            unsigned char raw[16];
            if (inet_pton(AF_INET6, addr, raw) != 1 || bits > 128) continue;
            uint64_t hi = 0, lo = 0;
            for (int j = 0; j < 8; j++) hi = hi << 8 | raw[j];
            for (int j = 8; j < 16; j++) lo = lo << 8 | raw[j];
            /* clear host bits of the 128-bit value, then keep the upper 64 bits (/64 units) */
            uint64_t hmask = bits >= 64 ? ~(uint64_t)0 : (bits == 0 ? 0 : ~(uint64_t)0 << (64 - bits));
            uint64_t net_hi = hi & hmask;
            uint64_t last_hi = bits >= 64 ? net_hi : (net_hi | ~hmask);
            (void)lo;
            ver[i] = 6;
            len[i] = (int16_t)bits;
            first[i] = net_hi;
            last[i] = last_hi;
        } else {
            unsigned char raw[4];
            if (inet_pton(AF_INET, addr, raw) != 1 || bits > 32) continue;
            uint64_t value = (uint64_t)raw[0] << 24 | (uint64_t)raw[1] << 16 | (uint64_t)raw[2] << 8 | raw[3];
            uint64_t host = bits == 0 ? 0xffffffffULL : ((1ULL << (32 - bits)) - 1);
            ver[i] = 4;
            len[i] = (int16_t)bits;
            first[i] = value & ~host & 0xffffffffULL;
            last[i] = (value & ~host & 0xffffffffULL) | host;
        }
    }
    result = Py_BuildValue("(OOOOO)", ver_b, len_b, first_b, last_b, odd);
done:
    Py_DECREF(fast);
    Py_XDECREF(ver_b); Py_XDECREF(len_b); Py_XDECREF(first_b); Py_XDECREF(last_b); Py_XDECREF(odd);
    return result;
}

/* ------------------------------------------------------------------------------------------------
 * route_columns(): a batch of observations as numbers, for the snapshot. Why not _mrt.columns():
 * that interns every prefix text through a dict, ~0.5 us per route on a full table (cache misses
 * on a dict of a million strings); here a canonical IPv4 prefix is its own number (address << 6 |
 * length, no look-up), and only the rest (IPv6, ADD-PATH keys, odd texts) goes through the dict.
 * Fields are read at the offsets the decoder's type publishes (others through getattr).
 * ------------------------------------------------------------------------------------------------ */

/* Key of a route that is not a plain IPv4 prefix: OTHER_KEY + its code in the `keys` dict. */
#define OTHER_KEY ((int64_t)1 << 40)

static PyObject *S_EMPTY_T;
static PyObject *kinds_seen[4];
static const char *kind_names[4] = {"announce", "withdraw", "rib", "state"};

/* The decoder's observation type and where its fields sit (read from its member table, as
 * _asrank.c does: no dependency on _mrt.c's struct). Fields of other objects go through getattr. */
enum { F_KIND, F_TIME, F_PEER_IP, F_PEER_ASN, F_PREFIX, F_PATH_ID, F_AS_PATH, F_COUNT };
static const char *field_names[F_COUNT] = {"kind", "time", "peer_ip", "peer_asn", "prefix", "path_id", "as_path"};
static PyObject *field_attrs[F_COUNT];
static PyTypeObject *obs_type = NULL;
static Py_ssize_t field_off[F_COUNT];
static int obs_type_state = 0;  /* 0 not looked up, 1 found, -1 not usable */

static void find_obs_type(void) {
    if (obs_type_state) return;
    obs_type_state = -1;
    PyObject *mod = PyImport_ImportModule("transitwatch.sources._mrt");
    if (!mod) { PyErr_Clear(); return; }
    PyObject *t = PyObject_GetAttrString(mod, "ObservationBase");
    Py_DECREF(mod);
    if (!t || !PyType_Check(t)) { Py_XDECREF(t); PyErr_Clear(); return; }
    PyTypeObject *tp = (PyTypeObject *)t;
    int found = 0;
    for (int f = 0; f < F_COUNT; f++) field_off[f] = -1;
    for (PyMemberDef *m = tp->tp_members; m && m->name; m++) {
        if (m->type != T_OBJECT && m->type != T_OBJECT_EX) continue;
        for (int f = 0; f < F_COUNT; f++)
            if (!strcmp(m->name, field_names[f]) && field_off[f] < 0) { field_off[f] = m->offset; found++; }
    }
    if (found != F_COUNT) { Py_DECREF(t); return; }
    obs_type = tp;  /* the reference keeps the type alive */
    obs_type_state = 1;
}

/* A new reference to field f of o (None for an unset member), or NULL with an exception. */
static PyObject *field(PyObject *o, int f, int direct) {
    if (direct) {
        PyObject *v = *(PyObject **)((char *)o + field_off[f]);
        return Py_NewRef(v ? v : Py_None);
    }
    return PyObject_GetAttr(o, field_attrs[f]);
}

static int kind_of(PyObject *kind) {
    for (int k = 0; k < 4; k++)
        if (kind == kinds_seen[k]) return k;
    if (PyUnicode_Check(kind))
        for (int k = 0; k < 4; k++)
            if (PyUnicode_CompareWithASCIIString(kind, kind_names[k]) == 0) {
                Py_XSETREF(kinds_seen[k], Py_NewRef(kind));
                return k;
            }
    PyErr_SetString(PyExc_ValueError, "observation of unknown kind");
    return -1;
}

/* "a.b.c.d/len" in canonical form (no leading zeros, octets <= 255, len <= 32): address << 6 | len;
 * -1 for anything else (then the text is interned as is). */
static int64_t v4_key(PyObject *s) {
    if (!PyUnicode_Check(s) || !PyUnicode_IS_ASCII(s)) return -1;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(s);
    const char *end = p + PyUnicode_GET_LENGTH(s);
    uint32_t addr = 0;
    for (int i = 0; i < 4; i++) {
        if (p >= end || *p < '0' || *p > '9') return -1;
        unsigned v = 0;
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9' && p - start < 4) v = v * 10 + (unsigned)(*p++ - '0');
        if (p - start > 3 || v > 255 || (*start == '0' && p - start > 1)) return -1;
        addr = addr << 8 | v;
        if (p >= end || *p++ != (i < 3 ? '.' : '/')) return -1;
    }
    const char *start = p;
    unsigned len = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 3) len = len * 10 + (unsigned)(*p++ - '0');
    if (p != end || p == start || p - start > 2 || len > 32 || (*start == '0' && p - start > 1)) return -1;
    return (int64_t)addr << 6 | len;
}

static int64_t intern_in(PyObject *index, PyObject *key, PyObject *added) {
    PyObject *v = PyDict_GetItemWithError(index, key);
    if (v) return PyLong_AsLongLong(v);
    if (PyErr_Occurred()) return -3;
    int64_t c = PyDict_GET_SIZE(index);
    PyObject *code = PyLong_FromLongLong(c);
    /* a fresh copy of a str: the decoded one would pin the batch's memory */
    PyObject *own = PyUnicode_CheckExact(key)
        ? PyUnicode_FromKindAndData(PyUnicode_KIND(key), PyUnicode_DATA(key), PyUnicode_GET_LENGTH(key))
        : Py_NewRef(key);
    int bad = !code || !own || PyDict_SetItem(index, own, code) < 0 || PyList_Append(added, own) < 0;
    Py_XDECREF(code);
    Py_XDECREF(own);
    return bad ? -3 : c;
}

/* route_columns(batch, peers, keys, paths, with_asn) -> (kind int8, time float64, peer int64, key
 * int64, path int64, asn int64, new_peers, new_keys, new_paths). kind: 0 announce, 1 withdraw,
 * 2 RIB, 3 state; key: v4_key(), or OTHER_KEY + code of the prefix text (or (prefix, path_id)) in
 * `keys`, -1 for state; path: code in `paths` ('' when absent), -1 for withdrawals and state;
 * asn: the peer AS (0 when absent; only with with_asn, else empty). */
static PyObject *route_columns(PyObject *self, PyObject *args) {
    PyObject *batch, *peers, *keys, *paths;
    int with_asn;
    if (!PyArg_ParseTuple(args, "OO!O!O!p", &batch, &PyDict_Type, &peers, &PyDict_Type, &keys, &PyDict_Type,
                          &paths, &with_asn))
        return NULL;
    PyObject *fast = PySequence_Fast(batch, "route_columns() needs a sequence of observations");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *kind_b = PyBytes_FromStringAndSize(NULL, n);
    PyObject *time_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *peer_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *key_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *path_b = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *asn_b = PyBytes_FromStringAndSize(NULL, with_asn ? n * 8 : 0);
    PyObject *new_peers = PyList_New(0), *new_keys = PyList_New(0), *new_paths = PyList_New(0);
    PyObject *result = NULL, *f = NULL;
    if (!kind_b || !time_b || !peer_b || !key_b || !path_b || !asn_b || !new_peers || !new_keys || !new_paths)
        goto done;
    int8_t *kind = (int8_t *)PyBytes_AS_STRING(kind_b);
    double *time = (double *)PyBytes_AS_STRING(time_b);
    int64_t *peer = (int64_t *)PyBytes_AS_STRING(peer_b);
    int64_t *key = (int64_t *)PyBytes_AS_STRING(key_b);
    int64_t *path = (int64_t *)PyBytes_AS_STRING(path_b);
    int64_t *asn = (int64_t *)PyBytes_AS_STRING(asn_b);
    find_obs_type();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = items[i];
        int direct = obs_type != NULL && PyObject_TypeCheck(o, obs_type);
        if (!(f = field(o, F_KIND, direct))) goto done;
        int k = kind_of(f);
        Py_CLEAR(f);
        if (k < 0) goto done;
        kind[i] = (int8_t)k;
        if (!(f = field(o, F_TIME, direct))) goto done;
        time[i] = PyFloat_AsDouble(f);
        Py_CLEAR(f);
        if (PyErr_Occurred()) goto done;
        if (!(f = field(o, F_PEER_IP, direct))) goto done;
        peer[i] = intern_in(peers, f, new_peers);
        Py_CLEAR(f);
        if (peer[i] == -3) goto done;
        if (with_asn) {
            if (!(f = field(o, F_PEER_ASN, direct))) goto done;
            asn[i] = f == Py_None ? 0 : PyLong_AsLongLong(f);
            Py_CLEAR(f);
            if (PyErr_Occurred()) goto done;
        }
        key[i] = -1;
        path[i] = -1;
        if (k == 3) continue;
        PyObject *prefix = field(o, F_PREFIX, direct);
        if (!prefix) goto done;
        PyObject *pid = field(o, F_PATH_ID, direct);
        if (!pid) { Py_DECREF(prefix); goto done; }
        int64_t v4 = pid == Py_None ? v4_key(prefix) : -1;
        if (v4 >= 0) {
            key[i] = v4;
        } else {
            PyObject *t = pid == Py_None ? Py_NewRef(prefix) : PyTuple_Pack(2, prefix, pid);
            int64_t c = t ? intern_in(keys, t, new_keys) : -3;
            Py_XDECREF(t);
            if (c == -3) { Py_DECREF(prefix); Py_DECREF(pid); goto done; }
            key[i] = OTHER_KEY + c;
        }
        Py_DECREF(prefix);
        Py_DECREF(pid);
        if (k == 0 || k == 2) {
            if (!(f = field(o, F_AS_PATH, direct))) goto done;
            path[i] = intern_in(paths, f == Py_None ? S_EMPTY_T : f, new_paths);
            Py_CLEAR(f);
            if (path[i] == -3) goto done;
        }
    }
    result = Py_BuildValue("(OOOOOOOOO)", kind_b, time_b, peer_b, key_b, path_b, asn_b, new_peers, new_keys,
                           new_paths);
done:
    Py_XDECREF(f);
    Py_DECREF(fast);
    Py_XDECREF(kind_b); Py_XDECREF(time_b); Py_XDECREF(peer_b); Py_XDECREF(key_b); Py_XDECREF(path_b);
    Py_XDECREF(asn_b); Py_XDECREF(new_peers); Py_XDECREF(new_keys); Py_XDECREF(new_paths);
    return result;
}

/* format_v4(keys int64[n]) -> list of "a.b.c.d/len" for v4_key() numbers */
static PyObject *format_v4(PyObject *self, PyObject *arg) {
    Py_buffer b;
    if (get_buffer(arg, &b, 8, 0, "keys") < 0) return NULL;
    Py_ssize_t n = b.len / 8;
    const int64_t *k = b.buf;
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        uint32_t a = (uint32_t)(k[i] >> 6);
        char text[24];
        int len = 0;
        unsigned parts[5] = {a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, (unsigned)(k[i] & 63)};
        for (int j = 0; j < 5; j++) {  /* snprintf costs more than the rest of the snapshot */
            unsigned v = parts[j];
            if (v >= 100) text[len++] = (char)('0' + v / 100);
            if (v >= 10) text[len++] = (char)('0' + v / 10 % 10);
            text[len++] = (char)('0' + v % 10);
            if (j < 4) text[len++] = j < 3 ? '.' : '/';
        }
        PyObject *s = PyUnicode_DecodeASCII(text, len, NULL);
        if (!s) { Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, i, s);
    }
    PyBuffer_Release(&b);
    return out;
}

/* origins(paths) -> int64[n]: the origin AS of each path text when its last token (after
 * trailing spaces) is plain ASCII digits (what origin_of takes without a parse), -1 for an empty
 * path, -2 for anything else (the caller asks origin_of). */
static PyObject *origins(PyObject *self, PyObject *arg) {
    PyObject *fast = PySequence_Fast(arg, "origins() needs a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out_b = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!out_b) { Py_DECREF(fast); return NULL; }
    int64_t *out = (int64_t *)PyBytes_AS_STRING(out_b);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = items[i];
        out[i] = -2;
        if (!PyUnicode_Check(s) || !PyUnicode_IS_ASCII(s)) continue;
        const char *p = (const char *)PyUnicode_1BYTE_DATA(s);
        Py_ssize_t end = PyUnicode_GET_LENGTH(s);
        if (end == 0) { out[i] = -1; continue; }
        /* str.rstrip() strips ASCII whitespace too: \t\n\v\f\r, space, and \x1c-\x1f */
        while (end > 0 && (p[end - 1] == ' ' || (p[end - 1] >= 9 && p[end - 1] <= 13) ||
                           (p[end - 1] >= 0x1c && p[end - 1] <= 0x1f)))
            end--;
        Py_ssize_t start = end;
        while (start > 0 && p[start - 1] >= '0' && p[start - 1] <= '9') start--;
        if (start == end || end - start > 18 || (start > 0 && p[start - 1] != ' ')) continue;
        int64_t v = 0;
        for (Py_ssize_t j = start; j < end; j++) v = v * 10 + (p[j] - '0');
        out[i] = v;
    }
    Py_DECREF(fast);
    return out_b;
}

/* path_tokens(paths) -> (kind int8[n], offsets int64[n + 1], hops int64[...]): the hops of plain
 * AS paths (ASCII digits and spaces only, at least one digit), as `[int(t) for t in text.split()]`
 * gives them; kind 1 plain, 2 plain with a number above 2^32 - 1 (no hops), 0 anything else
 * (parse it). offsets[i]..offsets[i + 1] index hops for kind 1. */
static PyObject *path_tokens(PyObject *self, PyObject *arg) {
    PyObject *fast = PySequence_Fast(arg, "path_tokens() needs a sequence of str");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    Py_ssize_t cap = 1024, used = 0;
    int64_t *hops = PyMem_Malloc(cap * sizeof *hops);
    PyObject *kind_b = PyBytes_FromStringAndSize(NULL, n);
    PyObject *off_b = PyBytes_FromStringAndSize(NULL, (n + 1) * 8);
    PyObject *result = NULL;
    if (!hops || !kind_b || !off_b) { PyErr_NoMemory(); goto done; }
    int8_t *kind = (int8_t *)PyBytes_AS_STRING(kind_b);
    int64_t *off = (int64_t *)PyBytes_AS_STRING(off_b);
    off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = items[i];
        Py_ssize_t mark = used;
        kind[i] = 0;
        if (PyUnicode_Check(s) && PyUnicode_IS_ASCII(s)) {
            const char *p = (const char *)PyUnicode_1BYTE_DATA(s);
            Py_ssize_t len = PyUnicode_GET_LENGTH(s), j = 0;
            int ok = 1, big = 0, digits = 0;
            while (j < len && ok) {
                if (p[j] == ' ') { j++; continue; }
                if (p[j] < '0' || p[j] > '9') { ok = 0; break; }
                uint64_t v = 0;
                Py_ssize_t start = j;
                while (j < len && p[j] >= '0' && p[j] <= '9') {
                    if (j - start < 19) v = v * 10 + (uint64_t)(p[j] - '0');
                    j++;
                }
                digits = 1;
                if (j - start > 10 || v > 4294967295ULL) big = 1;
                if (used == cap) {
                    cap *= 2;
                    int64_t *grown = PyMem_Realloc(hops, cap * sizeof *hops);
                    if (!grown) { PyErr_NoMemory(); goto done; }
                    hops = grown;
                }
                hops[used++] = (int64_t)v;
            }
            if (ok && digits) kind[i] = big ? 2 : 1;
        }
        if (kind[i] != 1) used = mark;
        off[i + 1] = used;
    }
    PyObject *hops_b = PyBytes_FromStringAndSize((const char *)hops, used * 8);
    if (hops_b) {
        result = PyTuple_Pack(3, kind_b, off_b, hops_b);
        Py_DECREF(hops_b);
    }
done:
    PyMem_Free(hops);
    Py_DECREF(fast);
    Py_XDECREF(kind_b);
    Py_XDECREF(off_b);
    return result;
}

static PyMethodDef module_methods[] = {
    {"clear_points", clear_points, METH_VARARGS,
     "clear_points(kind, peer, source, time, base, peer_collector, open_source, until, clear): the "
     "latest RIB-dump start or session-down per peer, over one batch of events (state carried in the "
     "last four arrays)."},
    {"parse_prefixes", parse_prefixes, METH_O,
     "parse_prefixes(texts) -> (version, length, first, last, odd): packed columns (int8, int16, "
     "uint64, uint64; IPv6 in /64 units) and the positions left to the exact parser."},
    {"route_columns", route_columns, METH_VARARGS,
     "route_columns(batch, peers, keys, paths, with_asn) -> (kind, time, peer, key, path, asn, new_peers, "
     "new_keys, new_paths): a batch as packed columns (see the source)."},
    {"origins", origins, METH_O, "origins(paths) -> int64 origin ASes (-1 empty, -2 ask origin_of)."},
    {"path_tokens", path_tokens, METH_O,
     "path_tokens(paths) -> (kind, offsets, hops): the hops of plain AS paths as numbers."},
    {"format_v4", format_v4, METH_O, "format_v4(keys) -> the prefix texts of IPv4 route keys."},
    {NULL}
};

static struct PyModuleDef table_module = {
    PyModuleDef_HEAD_INIT, "_table", "C helpers of the columnar routing snapshot.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__table(void) {
    for (int f = 0; f < F_COUNT; f++)
        if (!(field_attrs[f] = PyUnicode_InternFromString(field_names[f]))) return NULL;
    S_EMPTY_T = PyUnicode_InternFromString("");
    if (!S_EMPTY_T) return NULL;
    PyObject *m = PyModule_Create(&table_module);
    if (!m) return NULL;
    PyModule_AddIntConstant(m, "OTHER_KEY", (long)OTHER_KEY);
    /* setup.py passes the SHA-256 of this file; transitwatch.native refuses a stale build. */
    PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256);
    return m;
}
