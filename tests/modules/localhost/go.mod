module example.com/localhost

go 1.27
