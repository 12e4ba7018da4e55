module example.com/podstandin

go 1.19
