module example.com/gomod117

go 1.17
