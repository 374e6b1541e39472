/* The step loop of a plastic Diehl & Cook network (batch size 1), BindsNET's arithmetic.
 *
 * Layers X (input spikes) -> E (adaptive-threshold LIF, DiehlAndCookNodes / AdaptiveLIFNodes)
 * -> I (LIFNodes) -> back to E (the previous step's I spikes). X -> E learns with PostPre
 * (pre spike: row -= nu0 * trace_E; post spike: column += nu1 * trace_X), then the optional
 * weight decay and the [wmin, wmax] clamp. Each float32 operation is the one torch does in
 * BindsNET's forward/update, in the same order (no FMA contraction: built with
 * -ffp-contract=off), and a current is the sum of the weight rows of the active inputs in
 * ascending order from 0, which is what MKL's single-row product gives. Diehl & Cook's
 * one-spike choice draws from torch's generator: the loop returns to Python at every step in
 * which E spiked (phase 1 resumes that step with the chosen neuron in ctx->chosen).
 */
#include <stdint.h>
#include <string.h>

typedef struct {
    int64_t T, nx, ne, ni;
    const uint8_t *xin;                /* [T, nx] input spikes */
    float *w_xe;                       /* [nx, ne], learns */
    const float *w_ei, *w_ie;          /* [ne, ni], [ni, ne] */
    uint8_t *s_x, *s_e, *s_i;          /* the layers' spikes [n] */
    float *x_x, *x_e, *x_i;            /* traces (x_e needed; x_i may be NULL) */
    float *v_e, *r_e, *theta, *v_i, *r_i;
    uint8_t *out_e, *out_i;            /* [T, ne], [T, ni] */
    float *cur_e, *cur_i, *tmp;        /* work: [ne], [ni], [ne] */
    /* X trace */
    float x_decay, x_scale; int32_t x_additive;
    /* E */
    float e_rest, e_decay, e_thresh, e_reset, e_refrac, e_dt, th_decay, th_plus;
    float e_tdecay, e_tscale; int32_t e_additive, learning, one_spike;
    /* I */
    float i_rest, i_decay, i_thresh, i_reset, i_refrac, i_dt, i_tdecay, i_tscale;
    int32_t i_traces, i_additive;
    /* rule */
    float nu0, nu1, w_decay, wmin, wmax; int32_t use_nu0, use_nu1, clamp, first;
    int64_t chosen;
} dc_ctx;

static void trace(float *x, const uint8_t *s, int64_t n, float decay, float scale, int additive) {
    for (int64_t j = 0; j < n; j++) {
        x[j] = x[j] * decay;
        if (additive) x[j] = x[j] + scale * (float)s[j];
        else if (s[j]) x[j] = scale;
    }
}

/* out[j] = sum over active rows k (ascending) of w[k, j], from 0 */
static void event_sum(const uint8_t *s, int64_t nk, const float *w, int64_t m, float *out) {
    for (int64_t j = 0; j < m; j++) out[j] = 0.0f;
    for (int64_t k = 0; k < nk; k++) {
        if (!s[k]) continue;
        const float *row = w + k * m;
        for (int64_t j = 0; j < m; j++) out[j] = out[j] + row[j];
    }
}

/* E up to its spikes (before the one-spike choice); returns whether any neuron spiked */
static int e_spikes(dc_ctx *c) {
    int any = 0;
    for (int64_t j = 0; j < c->ne; j++) {
        float v = (c->v_e[j] - c->e_rest) * c->e_decay + c->e_rest;
        if (c->learning) c->theta[j] = c->theta[j] * c->th_decay;
        v = v + (c->r_e[j] <= 0.0f ? 1.0f : 0.0f) * c->cur_e[j];
        c->r_e[j] = c->r_e[j] - c->e_dt;
        uint8_t s = v >= c->e_thresh + c->theta[j];
        if (s) { c->r_e[j] = c->e_refrac; v = c->e_reset; }
        if (c->learning) c->theta[j] = c->theta[j] + c->th_plus * (float)s;
        c->v_e[j] = v;
        c->s_e[j] = s;
        any |= s;
    }
    return any;
}

static void i_step(dc_ctx *c) {
    event_sum(c->s_e, c->ne, c->w_ei, c->ni, c->cur_i);
    for (int64_t j = 0; j < c->ni; j++) {
        float v = (c->v_i[j] - c->i_rest) * c->i_decay + c->i_rest;
        float x = c->r_i[j] > 0.0f ? 0.0f : c->cur_i[j];
        c->r_i[j] = c->r_i[j] - c->i_dt;
        v = v + x;
        uint8_t s = v >= c->i_thresh;
        if (s) { c->r_i[j] = c->i_refrac; v = c->i_reset; }
        c->v_i[j] = v;
        c->s_i[j] = s;
    }
    if (c->i_traces) trace(c->x_i, c->s_i, c->ni, c->i_tdecay, c->i_tscale, c->i_additive);
}

static void clamp_all(float *w, int64_t n, float lo, float hi) {
    for (int64_t k = 0; k < n; k++) w[k] = w[k] < lo ? lo : (w[k] > hi ? hi : w[k]);
}

static void learn(dc_ctx *c) {
    int64_t nx = c->nx, ne = c->ne;
    float *w = c->w_xe;
    if (c->use_nu0) {
        for (int64_t j = 0; j < ne; j++) c->tmp[j] = c->x_e[j] * c->nu0;
        for (int64_t i = 0; i < nx; i++) {
            if (!c->s_x[i]) continue;
            float *row = w + i * ne;
            for (int64_t j = 0; j < ne; j++) row[j] = row[j] - c->tmp[j];
        }
    }
    if (c->use_nu1) {
        for (int64_t j = 0; j < ne; j++) {
            if (!c->s_e[j]) continue;
            for (int64_t i = 0; i < nx; i++) w[i * ne + j] = w[i * ne + j] + c->x_x[i] * c->nu1;
        }
    }
    if (c->w_decay != 1.0f)
        for (int64_t k = 0; k < nx * ne; k++) w[k] = w[k] * c->w_decay;
    if (!c->clamp) return;
    if (c->first || c->w_decay != 1.0f) { clamp_all(w, nx * ne, c->wmin, c->wmax); c->first = 0; return; }
    if (c->use_nu0)
        for (int64_t i = 0; i < nx; i++)
            if (c->s_x[i]) clamp_all(w + i * ne, ne, c->wmin, c->wmax);
    if (c->use_nu1)
        for (int64_t j = 0; j < ne; j++) {
            if (!c->s_e[j]) continue;
            for (int64_t i = 0; i < nx; i++) clamp_all(w + i * ne + j, 1, c->wmin, c->wmax);
        }
}

/* the rest of step t after E's spikes are final */
static void finish_step(dc_ctx *c, int64_t t) {
    trace(c->x_e, c->s_e, c->ne, c->e_tdecay, c->e_tscale, c->e_additive);
    i_step(c);
    learn(c);
    memcpy(c->out_e + t * c->ne, c->s_e, (size_t)c->ne);
    memcpy(c->out_i + t * c->ni, c->s_i, (size_t)c->ni);
}

/* Run from step t (phase 0: its start; phase 1: after the one-spike choice ctx->chosen).
 * Returns T when done, or the step at which E spiked with one_spike set (spikes in s_e). */
int64_t dc_run(dc_ctx *c, int64_t t, int32_t phase) {
    if (phase == 1) {
        memset(c->s_e, 0, (size_t)c->ne);
        c->s_e[c->chosen] = 1;
        finish_step(c, t);
        t++;
    }
    for (; t < c->T; t++) {
        memcpy(c->s_x, c->xin + t * c->nx, (size_t)c->nx);
        trace(c->x_x, c->s_x, c->nx, c->x_decay, c->x_scale, c->x_additive);
        event_sum(c->s_x, c->nx, c->w_xe, c->ne, c->cur_e);
        event_sum(c->s_i, c->ni, c->w_ie, c->ne, c->tmp);  /* I's spikes of the previous step */
        int any_i = 0;
        for (int64_t k = 0; k < c->ni; k++) any_i |= c->s_i[k];
        if (any_i)
            for (int64_t j = 0; j < c->ne; j++) c->cur_e[j] = c->cur_e[j] + c->tmp[j];
        if (e_spikes(c) && c->one_spike) return t;
        finish_step(c, t);
    }
    return c->T;
}

/* out[r] = sum of w's rows k with s[r, k] (k ascending, from 0) for each of b rows: the
 * event-driven current of one step, for the torch loop of snnsim.engine.plastic */
void plastic_event_sum(const uint8_t *s, int64_t b, int64_t nk, const float *w, int64_t m, float *out) {
    for (int64_t r = 0; r < b; r++) event_sum(s + r * nk, nk, w, m, out + r * m);
}
