module example.com/nosigterm

go 1.27
