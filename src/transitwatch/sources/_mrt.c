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
    PyObject *old_state;     /* int | None (state changes) */
    PyObject *new_state;     /* int | None */
    PyObject *originated;    /* int | None (RIB entries: originated time) */
    PyObject *record_type;   /* str, bgpdump label: TABLE_DUMP, TABLE_DUMP2, TABLE_DUMP2_AP, BGP4MP, BGP4MP_ET */
    PyObject *collector;     /* str */
    PyObject *source;        /* str, file the record came from */
    PyObject *offset;        /* int, byte offset of the MRT record in the decompressed stream */
} ObsObject;

#define OBS_NFIELDS 22

static const char *obs_field_names[OBS_NFIELDS] = {
    "time", "kind", "peer_ip", "peer_asn", "prefix", "as_path", "origin", "next_hop", "local_pref",
    "med", "communities", "large_communities", "atomic_aggregate", "aggregator", "path_id",
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
    PyObject_GC_UnTrack(self);
    for (int i = 0; i < OBS_NFIELDS; i++) Py_CLEAR(*obs_slot(self, i));
    /* The Python subclass's subtype_dealloc drops the heap type reference itself. */
    tp->tp_free((PyObject *)self);
}

static int obs_traverse(ObsObject *self, visitproc visit, void *arg) {
    for (int i = 0; i < OBS_NFIELDS; i++) Py_VISIT(*obs_slot(self, i));
    return 0;
}

static int obs_clear(ObsObject *self) {
    for (int i = 0; i < OBS_NFIELDS; i++) Py_CLEAR(*obs_slot(self, i));
    return 0;
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
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "C storage of an Observation; use transitwatch.Observation.",
    .tp_new = obs_new,
    .tp_init = (initproc)obs_init,
    .tp_dealloc = (destructor)obs_dealloc,
    .tp_traverse = (traverseproc)obs_traverse,
    .tp_clear = (inquiry)obs_clear,
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
    Py_INCREF(cls);
    obs_type = (PyTypeObject *)cls;
    Py_RETURN_NONE;
}

/*@DECODER@*/

static PyMethodDef module_methods[] = {
    {"set_observation_type", set_observation_type, METH_O, "Register the Observation subclass."},
    /*@METHODS@*/
    {NULL}
};

static struct PyModuleDef mrt_module = {
    PyModuleDef_HEAD_INIT, "_mrt", "C core of the MRT decoder.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__mrt(void) {
    if (PyType_Ready(&ObsBaseType) < 0) return NULL;
    PyObject *m = PyModule_Create(&mrt_module);
    if (!m) return NULL;
    Py_INCREF(&ObsBaseType);
    PyModule_AddObject(m, "ObservationBase", (PyObject *)&ObsBaseType);
    PyObject *names = PyTuple_New(OBS_NFIELDS);
    for (int i = 0; i < OBS_NFIELDS; i++) PyTuple_SET_ITEM(names, i, PyUnicode_InternFromString(obs_field_names[i]));
    PyModule_AddObject(m, "FIELDS", names);
    /*@INIT@*/
    return m;
}
