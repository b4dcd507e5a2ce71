// SPDX-License-Identifier: GPL-2.0
/*
 * Print this machine's TSC rate in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * Under QEMU TCG the guest's TSC runs at the host's rate, but the guest
 * kernel calibrates it against an emulated PIT, which fails now and then
 * when the host is busy; the TSC is then marked unstable and every timing
 * in the VM goes wrong.  The test VM gets this figure as tsc_early_khz=.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	double t0 = now_ns(), t;
	unsigned long long c0 = __rdtsc(), c;

	do {
		t = now_ns();
	} while (t - t0 < 250e6);
	c = __rdtsc();
	printf("%.0f\n", (c - c0) / (t - t0) * 1e6);
	return 0;
}
