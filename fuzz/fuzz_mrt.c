/*
 * libFuzzer harness for the C core of the MRT decoder (src/transitwatch/sources/_mrt.c).
 *
 * The decoder builds Python objects, so the harness embeds CPython and includes the extension's
 * source directly (one translation unit: the sanitizers see every read of the record parser).
 * Each input is fed to a fresh Decoder in pieces whose size comes from the input's first byte, so
 * records also cross chunk boundaries at arbitrary places; the observations are then formatted
 * as bgpdump -m lines, which exercises the formatter on whatever the parser produced.
 *
 * Built by `make fuzz` (clang, -fsanitize=fuzzer,address,undefined); seeds come from
 * fuzz/seeds.py (records of every real file in ../shared/data).
 */
/* A small string cache and first buffer: each run builds a fresh Decoder, and a buffer of exactly
 * the bytes fed lets AddressSanitizer flag a read one byte past a record at the end of the data. */
#define SCACHE_SIZE 64
#define FIRST_BUFFER 64
#define EXACT_BUFFER 1
#include "../src/transitwatch/sources/_mrt.c"

static PyObject *fz_module;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    /* Python's own allocator hides heap overflows from AddressSanitizer: use malloc. */
    setenv("PYTHONMALLOC", "malloc", 1);
    Py_InitializeEx(0);
    fz_module = PyInit__mrt();
    if (!fz_module) { PyErr_Print(); abort(); }
    return 0;
}

static void fz_consume(PyObject *list) {
    if (!list) { PyErr_Clear(); return; }
    PyObject *out = format_bgpdump(NULL, list);
    if (!out) PyErr_Clear();
    Py_XDECREF(out);
    Py_DECREF(list);
}

/* The selections and filters of `dump` / tw.routes / route filters parse paths and prefixes of
 * their own: some inputs run with them installed. */
static void fz_configure(PyObject *dec, int mode) {
    static const int safis[4] = {0, -1, 1, 2};   /* every SAFI, as bgpdump, unicast, multicast */
    PyObject *r = PyObject_CallMethod(dec, "select_safi", "i", safis[mode & 3]);
    if (!r) { PyErr_Print(); abort(); }
    Py_DECREF(r);
    if (mode & 4) {
        r = PyObject_CallMethod(dec, "set_select", "ddi[I][I][(iy#i)][(iy#i)][(iy#i)]", 0.0, 4e9, 15, 3356u,
                                13335u, 1, "\x0a", (Py_ssize_t)1, 8, 1, "\xc0\x00\x02", (Py_ssize_t)3, 24,
                                2, "\x20\x01\x0d\xb8", (Py_ssize_t)4, 32);
        if (!r) { PyErr_Print(); abort(); }
        Py_DECREF(r);
    }
    if (mode & 8) {
        r = PyObject_CallMethod(dec, "set_filter", "([II][(iy#i)])", 3356u, 131279u, 1, "\xaf\x2d\xb0",
                                (Py_ssize_t)3, 22);
        if (!r) { PyErr_Print(); abort(); }
        Py_DECREF(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t chunk = 1 << 20;
    int mode = 0, columns = 0;
    if (size > 0) {
        columns = (data[0] & 16) != 0;   /* routes as packed columns (Decoder.set_columns) */
        /* first byte: 0 = the whole input at once, else pieces of 1..255 * 7 bytes */
        if (data[0]) chunk = (size_t)data[0] * 7;
        mode = data[0] & 15;   /* SAFI selection, dump selection, route filter (fz_configure) */
        data++; size--;
    }
    PyObject *dec = PyObject_CallFunction((PyObject *)&DecoderType, "ss", "fuzz", "fz");
    if (!dec) { PyErr_Print(); abort(); }
    fz_configure(dec, mode);
    if (columns) {
        PyObject *r = dec_set_columns((DecoderObject *)dec, Py_True);
        if (!r) { PyErr_Print(); abort(); }
        Py_DECREF(r);
    }
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        /* a private copy of exactly n bytes: a read past it is a real overflow, not luck */
        PyObject *b = PyBytes_FromStringAndSize((const char *)data + off, (Py_ssize_t)n);
        fz_consume(dec_feed((DecoderObject *)dec, b));
        Py_DECREF(b);
    }
    fz_consume(dec_finish((DecoderObject *)dec, NULL));
    PyObject *st = dec_stats((DecoderObject *)dec, NULL);
    if (!st) PyErr_Clear();
    Py_XDECREF(st);
    Py_DECREF(dec);
    return 0;
}
