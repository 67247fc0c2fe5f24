/* Exact decimal-to-double conversion for the numbers a JSON journal is made of.
 *
 * fj_decimal_to_double(m, exp10, negative, &out) converts m * 10^exp10, with m < 2^64 and
 * exp10 in [-19, 19], to the nearest double (ties to even), exactly as strtod and Python's
 * float() do, using 128-bit integer arithmetic. It returns 0, leaving out untouched, for
 * anything outside that range or on a compiler without 128-bit integers; the caller then
 * falls back to a general (slower) routine.
 */
#ifndef FLUXJOURNAL_DECIMAL_H
#define FLUXJOURNAL_DECIMAL_H

#include <math.h>
#include <stdint.h>

#if defined(__SIZEOF_INT128__)

typedef unsigned __int128 fj_u128;

static const uint64_t fj_pow10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL,
};

static inline int fj_bit_length(fj_u128 v)
{
    uint64_t high = (uint64_t)(v >> 64);
    uint64_t low = (uint64_t)v;
    if (high)
        return 128 - __builtin_clzll(high);
    return low ? 64 - __builtin_clzll(low) : 0;
}

/* q * 2^exp2, with q rounded to 53 bits; inexact says the true value lies strictly
 * above q (a non-zero remainder was dropped below its last bit). */
static inline double fj_round_and_scale(fj_u128 q, int inexact, int exp2)
{
    int extra = fj_bit_length(q) - 53;
    uint64_t mantissa;
    int half, rest;
    if (extra <= 0)
        return ldexp((double)(uint64_t)q, exp2);
    mantissa = (uint64_t)(q >> extra);
    half = (int)((q >> (extra - 1)) & 1);
    rest = inexact || (extra > 1 && (q & (((fj_u128)1 << (extra - 1)) - 1)) != 0);
    if (half && (rest || (mantissa & 1)))
        mantissa += 1; /* may reach 2^53: still exact */
    return ldexp((double)mantissa, exp2 + extra);
}

static inline int fj_decimal_to_double(uint64_t m, long long exp10, int negative, double *out)
{
    double value;
    if (exp10 < -19 || exp10 > 19)
        return 0;
    if (m == 0) {
        value = 0.0;
    } else if (exp10 >= 0) {
        value = fj_round_and_scale((fj_u128)m * fj_pow10[(int)exp10], 0, 0);
    } else {
        /* Scale m up so that the quotient has at least 55 bits: 53 kept, one to round
         * with, and the remainder (plus any lower bits) to break ties. */
        uint64_t divisor = fj_pow10[(int)-exp10];
        int shift = 55 - (64 - __builtin_clzll(m)) + (64 - __builtin_clzll(divisor));
        fj_u128 numerator;
        if (shift < 0)
            shift = 0;
        numerator = (fj_u128)m << shift;
        value = fj_round_and_scale(numerator / divisor, numerator % divisor != 0, -shift);
    }
    *out = negative ? -value : value;
    return 1;
}

#else

static inline int fj_decimal_to_double(uint64_t m, long long exp10, int negative, double *out)
{
    (void)m;
    (void)exp10;
    (void)negative;
    (void)out;
    return 0;
}

#endif
#endif
