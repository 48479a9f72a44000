package paybridge

import "fmt"

// IsDecimal reports whether s is a JSON number: an optional minus, digits
// without a leading zero, an optional fraction and an optional exponent.
func IsDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// AmountsProblem names the first of a reply's or an event's amounts
// (amount, amount_paid, crypto_amount) that is given and is not a decimal
// number, quoting at most 70 characters of it; "" when every one is fine.
func AmountsProblem(amount, amountPaid, cryptoAmount string) string {
	for _, a := range [...]struct{ name, value string }{
		{"amount", amount}, {"amount_paid", amountPaid}, {"crypto_amount", cryptoAmount},
	} {
		if a.value != "" && !IsDecimal(a.value) {
			return fmt.Sprintf("%s %.70q is not a decimal number", a.name, a.value)
		}
	}
	return ""
}
