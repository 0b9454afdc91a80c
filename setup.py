from setuptools import find_packages, setup
setup(name='simsiam_mm', version='0.1.0', packages=find_packages(include=['simsiam_mm', 'simsiam_mm.*']))
