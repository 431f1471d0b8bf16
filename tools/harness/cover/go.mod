module covtools.local/harness

go 1.16
