package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/accounts"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/providers/all"
)

// A platform's bridge serves each merchant with its own credentials,
// read from an accounts directory (paybridge serve --accounts-dir): a
// request names the merchant's account, and the reply says it.
func ExampleAccount() {
	nc, stop := runningPaybridgeWithAccount("shop-42")
	defer stop()

	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()
	rep, err := c.Check(ctx, "coinbar", "order-1", client.Account("shop-42"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Account, rep.Provider, rep.PaymentID, rep.Status)

	_, err = c.Check(ctx, "coinbar", "order-1", client.Account("shop-7"))
	fmt.Println(errors.Is(err, client.ErrUnknownAccount))
	// Output:
	// shop-42 coinbar order-1 pending
	// true
}

// runningPaybridgeWithAccount is runningPaybridge with a CoinbarPay
// account called name, whose credentials the fake accepts, in an accounts
// directory.
func runningPaybridgeWithAccount(name string) (*nats.Conn, func()) {
	w, err := startWorld()
	if err != nil {
		w.close()
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "paybridge-accounts-")
	if err == nil {
		w.onClose(func() { os.RemoveAll(dir) })
		account := filepath.Join(dir, "coinbar", name)
		err = errors.Join(os.MkdirAll(account, 0o700),
			os.WriteFile(filepath.Join(account, "api-key"), []byte(coinbarClientID+"\n"), 0o600),
			os.WriteFile(filepath.Join(account, "secret-key"), []byte(coinbarSecret+"\n"), 0o600))
	}
	var accts *accounts.Dir
	if err == nil {
		accts, err = accounts.Open(accounts.Config{Root: dir, Providers: all.List, BaseURLs: map[string]string{"coinbar": w.cbURL, "muvinai": w.mvURL}})
	}
	if err == nil {
		err = w.startBridge(bridge.Config{Accounts: accts})
	}
	if err == nil {
		err = w.addExamplePayments()
	}
	if err != nil {
		w.close()
		log.Fatal(err)
	}
	return w.nc, w.close
}
