//go:build stress

package router

// stressScale multiplies the work of the long-running property and load
// tests; under the stress build tag they run eight times longer.
const stressScale = 8
