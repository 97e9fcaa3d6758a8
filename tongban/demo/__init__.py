"""Demo data: clearly marked 演示数据, built on the real divisions and the real item lists."""
