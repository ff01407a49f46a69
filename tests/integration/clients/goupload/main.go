// Command goupload uploads one file with Go's golang.org/x/crypto/ssh and github.com/pkg/sftp
// (the stack of rclone and other Go tools) on their default algorithms: put to REMOTE, or to
// TEMP then rename to REMOTE.
//
// Usage: goupload HOST:PORT USER PASSWORD LOCAL REMOTE [TEMP]
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func main() {
	if err := upload(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "goupload:", err)
		os.Exit(1)
	}
}

func upload(args []string) error {
	config := &ssh.ClientConfig{
		User:            args[1],
		Auth:            []ssh.AuthMethod{ssh.Password(args[2])},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // a fresh gateway's test host key
	}
	conn, err := ssh.Dial("tcp", args[0], config)
	if err != nil {
		return err
	}
	defer conn.Close()
	client, err := sftp.NewClient(conn)
	if err != nil {
		return err
	}
	defer client.Close()
	target := args[4]
	if len(args) > 5 {
		target = args[5]
	}
	if err := put(client, args[3], target); err != nil {
		return err
	}
	if len(args) > 5 {
		return client.Rename(args[5], args[4])
	}
	return nil
}

func put(client *sftp.Client, local, remote string) error {
	source, err := os.Open(local)
	if err != nil {
		return err
	}
	defer source.Close()
	destination, err := client.Create(remote)
	if err != nil {
		return err
	}
	if _, err := io.Copy(destination, source); err != nil {
		destination.Close()
		return err
	}
	return destination.Close()
}
