// Package money does price arithmetic in integer cents, shared by the catalog
// (which shows prices) and orders (which totals them).
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Cents is an amount of money in cents.
type Cents int64

// String formats c as "12.34".
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign = "-"
		c = -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// Parse reads "12.34", "12.3" or "12" into cents.
func Parse(s string) (Cents, error) {
	whole, frac, hasFrac := strings.Cut(strings.TrimSpace(s), ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("money: bad amount %q", s)
	}
	var f int64
	if hasFrac {
		if len(frac) == 0 || len(frac) > 2 {
			return 0, fmt.Errorf("money: bad amount %q", s)
		}
		if len(frac) == 1 {
			frac += "0"
		}
		if f, err = strconv.ParseInt(frac, 10, 64); err != nil || f < 0 {
			return 0, fmt.Errorf("money: bad amount %q", s)
		}
	}
	return Cents(w*100 + f), nil
}

// Times multiplies a unit price by a quantity.
func (c Cents) Times(qty int) Cents {
	return c * Cents(qty)
}

// Sum adds amounts.
func Sum(amounts ...Cents) Cents {
	var total Cents
	for _, a := range amounts {
		total += a
	}
	return total
}

// Discount takes percent off c, rounding the discount half up.
func (c Cents) Discount(percent int) Cents {
	if percent <= 0 {
		return c
	}
	if percent >= 100 {
		return 0
	}
	off := (int64(c)*int64(percent) + 50) / 100
	return c - Cents(off)
}

// Refund is what a customer gets back for a cancelled order: the amount paid
// minus a handling fee, never negative.
func (c Cents) Refund(fee Cents) Cents {
	if fee >= c {
		return 0
	}
	return c - fee
}
