/*
 * Alias-table drawing for swift_sampler.draw (with replacement).
 *
 * Why C: on a 2-core machine numpy needs several passes of random memory access to draw 1e8
 * indices (sort + shuffle, or repeated gathers); the alias method needs one random access per
 * draw and an O(n) build, which only a compiled loop delivers. The Python side
 * (swift_sampler/draw.py) validates every input; this file trusts it.
 *
 * Table layout: one record per instance, {prob; alias}, so a draw touches one cache line.
 * For n < 2^31 a record is {float32; int32} (8 bytes) and the build's work list is int32:
 * 12 bytes per instance in all; above that {float64; int64} and int64 (24 bytes). The only
 * value the build updates repeatedly, the residual of the current large bucket, is kept in a
 * double; a bucket's threshold is rounded to the record's float type once, and the rounded
 * value is what the next large bucket is charged, so no mass is lost to rounding.
 *
 * Random numbers: xoshiro256** seeded with four 64-bit words that the caller derives from
 * numpy.random.SeedSequence([seed, epoch]). One 64-bit draw x gives both the bucket
 * i = floor(x * n / 2^64) and the coin u = ((x * n) mod 2^64) / 2^64, which is uniform on a grid
 * of step n / 2^64 within each bucket.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float prob;
    int32_t alias;
} record32_t;

typedef struct {
    double prob;
    int64_t alias;
} record64_t;

static inline uint64_t rotl(const uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t xoshiro_next(uint64_t *s) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Vose's alias build. Smalls grow from the front of `work`, larges from the back. */
#define DEFINE_BUILD(NAME, RECORD, PROB_T, INDEX_T)                                             \
    static void NAME(const double *w64, const float *w32, int is_f32, Py_ssize_t n,             \
                     double total, RECORD *table, INDEX_T *work) {                              \
        const double count = (double)n;                                                         \
        Py_ssize_t n_small = 0, large_front = n;                                                \
        for (Py_ssize_t i = 0; i < n; i++) {                                                    \
            /* (w / total) * n, not w * (n / total): n / total overflows for tiny totals. */      \
            double v = ((is_f32 ? (double)w32[i] : w64[i]) / total) * count;                    \
            table[i].alias = (INDEX_T)i;                                                        \
            if (v < 1.0) {                                                                      \
                table[i].prob = (PROB_T)v;                                                      \
                work[n_small++] = (INDEX_T)i;                                                   \
            } else {                                                                            \
                table[i].prob = (PROB_T)1.0;                                                    \
                work[--large_front] = (INDEX_T)i;                                               \
            }                                                                                   \
        }                                                                                       \
        if (large_front == n) return;                                                           \
        INDEX_T large = work[large_front];                                                      \
        double rest = ((is_f32 ? (double)w32[large] : w64[large]) / total) * count;             \
        while (n_small > 0) {                                                                   \
            INDEX_T small = work[--n_small];                                                    \
            table[small].alias = large;                                                         \
            /* (rest + p) - 1 loses less precision than rest - (1 - p). */                      \
            rest = (rest + (double)table[small].prob) - 1.0;                                    \
            if (rest < 1.0) {                                                                   \
                table[large].prob = (PROB_T)(rest > 0.0 ? rest : 0.0);                          \
                work[n_small++] = large;                                                        \
                if (++large_front == n) break;                                                  \
                large = work[large_front];                                                      \
                rest = ((is_f32 ? (double)w32[large] : w64[large]) / total) * count;            \
            }                                                                                   \
        }                                                                                       \
        /* What is left is 1 up to rounding: keep those buckets whole. */                       \
        while (large_front < n) table[work[large_front++]].prob = (PROB_T)1.0;                  \
        while (n_small > 0) table[work[--n_small]].prob = (PROB_T)1.0;                          \
    }

DEFINE_BUILD(build32, record32_t, float, int32_t)
DEFINE_BUILD(build64, record64_t, double, int64_t)

/* Blocks of draws: pick the buckets first and prefetch them, so the cache misses of one block
 * overlap instead of queueing one after another. */
#define DEFINE_DRAW(NAME, RECORD)                                                               \
    static void NAME(const RECORD *table, uint64_t n, int64_t *out, Py_ssize_t k,              \
                     uint64_t *s) {                                                             \
        enum { BLOCK = 32 };                                                                    \
        uint64_t bucket[BLOCK];                                                                 \
        double coin[BLOCK];                                                                     \
        const double two_m64 = 5.421010862427522e-20; /* 2^-64 */                               \
        Py_ssize_t t = 0;                                                                       \
        while (t < k) {                                                                         \
            Py_ssize_t m = k - t < BLOCK ? k - t : BLOCK;                                       \
            for (Py_ssize_t j = 0; j < m; j++) {                                                \
                __uint128_t prod = (__uint128_t)xoshiro_next(s) * n;                            \
                bucket[j] = (uint64_t)(prod >> 64);                                             \
                coin[j] = (double)(uint64_t)prod * two_m64;                                     \
                __builtin_prefetch(&table[bucket[j]]);                                          \
            }                                                                                   \
            for (Py_ssize_t j = 0; j < m; j++) {                                                \
                const RECORD r = table[bucket[j]];                                              \
                out[t + j] = coin[j] < (double)r.prob ? (int64_t)bucket[j] : (int64_t)r.alias; \
            }                                                                                   \
            t += m;                                                                             \
        }                                                                                       \
    }

DEFINE_DRAW(draw32, record32_t)
DEFINE_DRAW(draw64, record64_t)

/* build_alias(weights: float32[n] or float64[n], table: record32[n] or record64[n] (writable),
 *             work: int32[n] or int64[n] (writable, same width as the record's index),
 *             total: float) -> None
 * weights are >= 0 with sum `total` > 0 (checked by the caller). */
static PyObject *build_alias(PyObject *self, PyObject *args) {
    PyObject *w_obj, *t_obj, *k_obj;
    double total;
    if (!PyArg_ParseTuple(args, "OOOd", &w_obj, &t_obj, &k_obj, &total)) {
        return NULL;
    }
    Py_buffer wv, tv, kv;
    if (PyObject_GetBuffer(w_obj, &wv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return NULL;
    int is_f32 = wv.format != NULL && strcmp(wv.format, "f") == 0;
    int is_f64 = wv.format != NULL && strcmp(wv.format, "d") == 0;
    if (!is_f32 && !is_f64) {
        PyErr_Format(PyExc_TypeError, "weights must be float32 or float64, got format %s",
                     wv.format ? wv.format : "?");
        PyBuffer_Release(&wv);
        return NULL;
    }
    if (PyObject_GetBuffer(t_obj, &tv, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(&wv);
        return NULL;
    }
    if (PyObject_GetBuffer(k_obj, &kv, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(&wv);
        PyBuffer_Release(&tv);
        return NULL;
    }
    const Py_ssize_t n = wv.len / wv.itemsize;
    int wide = tv.len == n * (Py_ssize_t)sizeof(record64_t) && kv.len == n * 8;
    int narrow = tv.len == n * (Py_ssize_t)sizeof(record32_t) && kv.len == n * 4 &&
                 n <= (Py_ssize_t)INT32_MAX;
    if (!wide && !narrow) {
        PyErr_SetString(PyExc_ValueError,
                        "table and work must hold n records and n indices of one width");
    } else {
        const double *w64 = (const double *)wv.buf;
        const float *w32 = (const float *)wv.buf;
        Py_BEGIN_ALLOW_THREADS;
        if (narrow) {
            build32(w64, w32, is_f32, n, total, (record32_t *)tv.buf, (int32_t *)kv.buf);
        } else {
            build64(w64, w32, is_f32, n, total, (record64_t *)tv.buf, (int64_t *)kv.buf);
        }
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&wv);
    PyBuffer_Release(&tv);
    PyBuffer_Release(&kv);
    if (!wide && !narrow) return NULL;
    Py_RETURN_NONE;
}

/* draw_alias(table: record32[n] or record64[n], n, out: int64[k] (writable), s0, s1, s2, s3) */
static PyObject *draw_alias(PyObject *self, PyObject *args) {
    PyObject *t_obj, *o_obj;
    Py_ssize_t n;
    unsigned long long seed[4];
    if (!PyArg_ParseTuple(args, "OnOKKKK", &t_obj, &n, &o_obj, &seed[0], &seed[1], &seed[2],
                          &seed[3])) {
        return NULL;
    }
    Py_buffer tv, ov;
    if (PyObject_GetBuffer(t_obj, &tv, PyBUF_C_CONTIGUOUS) != 0) return NULL;
    if (PyObject_GetBuffer(o_obj, &ov, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) != 0) {
        PyBuffer_Release(&tv);
        return NULL;
    }
    const Py_ssize_t k = ov.len / 8;
    int wide = n > 0 && tv.len == n * (Py_ssize_t)sizeof(record64_t);
    int narrow = n > 0 && tv.len == n * (Py_ssize_t)sizeof(record32_t);
    if ((!wide && !narrow) || ov.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "table must hold n > 0 records; out must be int64");
        PyBuffer_Release(&tv);
        PyBuffer_Release(&ov);
        return NULL;
    }
    uint64_t s[4] = {seed[0], seed[1], seed[2], seed[3]};
    if ((s[0] | s[1] | s[2] | s[3]) == 0) {
        s[0] = 0x9E3779B97F4A7C15ULL; /* xoshiro's state must not be all zero */
    }
    Py_BEGIN_ALLOW_THREADS;
    if (narrow) {
        draw32((const record32_t *)tv.buf, (uint64_t)n, (int64_t *)ov.buf, k, s);
    } else {
        draw64((const record64_t *)tv.buf, (uint64_t)n, (int64_t *)ov.buf, k, s);
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&tv);
    PyBuffer_Release(&ov);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"build_alias", build_alias, METH_VARARGS,
     "build_alias(weights, table, work, total): fill an alias table in place."},
    {"draw_alias", draw_alias, METH_VARARGS,
     "draw_alias(table, n, out, s0, s1, s2, s3): fill out with draws from the alias table."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_draw", "Alias-table drawing (compiled core of swift_sampler.draw).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__draw(void) { return PyModule_Create(&module); }
