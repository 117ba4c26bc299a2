module keybroker.local/tools/vault

go 1.26.8
