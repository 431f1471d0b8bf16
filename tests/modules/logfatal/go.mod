module example.com/logfatal

go 1.27
