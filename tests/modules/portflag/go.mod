module example.com/portflag

go 1.27
