//go:build !stress

package router

// stressScale multiplies the work of the long-running property and load
// tests; the stress build tag runs them longer.
const stressScale = 1
