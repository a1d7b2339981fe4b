# The image deploy/kubemig.yaml runs: kubemig and its dependencies on Python 3.11. NVML comes from
# the host's driver at run time (the `nvidia` runtime class), not from the image.
FROM python:3.11-slim
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install --no-cache-dir /src && rm -rf /src
CMD ["kubemig", "--help"]
